// The scan page's teaching panel (templates/review/_scan_panel.html):
// - self-assessment first: the AI's answer stays hidden until the resident gives hers (or skips);
// - a dispute form for the resident;
// - remediation links on every deduction;
// - the reviewer's correction, beside the image, in the box editor (editor.js) on the canvas of
//   scan.js; the rubric on the server scores it.
// init() runs on load and again when scan.js swaps in a fresh panel after a live finish.
// It talks to the viewer (scan.js) only through the events in events.js.
import { getJSON, postJSON } from "./api.js";
import * as editor from "./editor.js";
import * as events from "./events.js";

const $ = (id) => document.getElementById(id);
let panel = null;
const reload = () => location.reload();

function showErrors(ul, messages) {
  ul.innerHTML = "";
  messages.forEach((m) => { const li = document.createElement("li"); li.textContent = m; ul.append(li); });
}

// ------------------------------------------------------------ remediation links
// On the deductions the viewer listed before this script ran, and on each one it lists later.
function remediationLink(li) {
  if (!panel || !li.dataset.item || li.querySelector("a.remedy")) return;
  const a = document.createElement("a");
  a.className = "remedy";
  a.href = panel.dataset.remediationUrl.replace("ITEM", encodeURIComponent(li.dataset.item)) + `?scan=${panel.dataset.scanId}`;
  a.textContent = "How to fix this";
  li.append(a);
}
function remediationLinks() {
  const list = $("deductions");
  if (list) list.querySelectorAll("li[data-item]").forEach(remediationLink);
}
events.on(events.DEDUCTION, ({ element }) => remediationLink(element));

function init() {
  panel = $("teaching");
  if (!panel) return;
  remediationLinks();
  const scanRoot = $("scan");

  // ---------------------------------------------------------- self-assessment first
  if (panel.dataset.conceal === "1" && scanRoot) {
    scanRoot.classList.add("concealed");
    if (!document.querySelector(".plain-image")) {
      const img = document.createElement("img");
      img.src = scanRoot.dataset.imageUrl;
      img.className = "plain-image";
      img.alt = "Your scan, before its assessment is shown";
      document.querySelector(".viewer").prepend(img);
    }
    $("self-assess-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      postJSON(panel.dataset.selfUrl, { planes: [$("self-plane").value], score: Number($("self-score").value) }).then(reload, (err) => {
        $("self-error").hidden = false;
        $("self-error").textContent = err.message;
      });
    });
    // Skipping reloads whatever the server answered (it has nothing to show otherwise).
    $("self-skip").addEventListener("click", () => postJSON(panel.dataset.selfUrl, { skipped: true })
      .catch((err) => { if (!err.status) throw err; }).then(reload));
  } else if (scanRoot) {
    scanRoot.classList.remove("concealed");
  }

  // ---------------------------------------------------------- dispute
  const disputeForm = $("dispute-form");
  if (disputeForm) {
    disputeForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      postJSON(panel.dataset.disputeUrl, { reason: $("dispute-reason").value }).then(reload, (err) => {
        const errs = $("dispute-errors");
        if (errs) showErrors(errs, err.messages);
      });
    });
  }

  if (panel.dataset.canReview === "1") reviewer();
}

// ------------------------------------------------------------ the reviewer's editor
function reviewer() {
  // a declined scan has no AI answer to confirm: only "Assess this scan" is offered
  $("review-confirm")?.addEventListener("click", () => {
    postJSON(panel.dataset.confirmUrl).then(reload, (err) => showErrors($("review-errors"), err.messages));
  });
  $("review-start").addEventListener("click", () => {
    getJSON(panel.dataset.correctionsUrl).then((data) => {
      $("review-start").hidden = true;
      if ($("review-confirm")) $("review-confirm").hidden = true;
      editor.open(data);
    }, (err) => showErrors($("review-errors"), err.messages));
  });
  editor.setUp({
    save: (body) => postJSON(panel.dataset.correctionsUrl, body),
    onSaved: reload,
    onPlanes: followExample,
  });
}

// The panel's "What Excellent looks like" is of the AI's plane: once the editor's plane is
// another, it gives way to a link to that plane's examples in the library.
function followExample(planes) {
  const card = $("plane-example"), other = $("plane-example-other");
  if (!card || !other) return;
  const chosen = planes[0] || "";
  const differs = chosen && chosen !== card.dataset.plane;
  card.hidden = Boolean(differs);
  other.hidden = !differs;
  if (differs) $("plane-example-link").href = `${$("plane-example-link").pathname}#plane-${chosen}`;
}

events.on(events.PANEL, init);  // a fresh panel after a live finish
init();
