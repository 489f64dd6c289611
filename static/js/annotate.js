// An annotation campaign's pages (templates/annotation/read.html and adjudicate.html): the scan
// on <canvas id="canvas"> with the boxes of the answer being edited, in the same box editor as
// an instructor's correction (editor.js, which emits events.BOXES for this viewer to draw).
// - read: the reader's own record. The editor opens on what the campaign starts from (the
//   model's answer, or a blank image) and submits to the record's API; once submitted, the
//   record is shown as it stands.
// - adjudicate: both readers' records side by side, each on its own small canvas; "Start from
//   this record" opens it in the editor, to save as it stands or edited as the final record.
import { getJSON, postJSON } from "./api.js";
import * as editor from "./editor.js";
import * as events from "./events.js";

const $ = (id) => document.getElementById(id);
const root = $("scan");
const COLORS = ["#00e5ff", "#ffea00", "#76ff03", "#ff4081", "#b388ff", "#ffab40", "#64ffda", "#ff6e40"];
const image = new Image();
let current = { structures: [], highlight: null };

// One canvas: the image at its own size, each box in its colour with its name on a dark plate.
function draw(canvas, structures, highlight) {
  if (!image.naturalWidth) return;
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0);
  const scale = canvas.width / Math.max(1, canvas.clientWidth || canvas.width);
  const fontPx = Math.round(13 * scale);
  ctx.font = `${fontPx}px system-ui, sans-serif`;
  const px = (b) => [b[0] * canvas.width / 1000, b[1] * canvas.height / 1000, (b[2] - b[0]) * canvas.width / 1000, (b[3] - b[1]) * canvas.height / 1000];
  structures.forEach((s, i) => {
    const [x, y, w, h] = px(s.box);
    ctx.globalAlpha = highlight ? 0.35 : 1;
    ctx.strokeStyle = COLORS[i % COLORS.length];
    ctx.lineWidth = Math.max(2, 2 * scale);
    ctx.strokeRect(x, y, w, h);
    const ty = Math.max(fontPx, y - 4);
    ctx.fillStyle = "rgba(0, 0, 0, 0.7)";
    ctx.fillRect(x + 1, ty - fontPx + 2 * scale, ctx.measureText(s.name).width + 4 * scale, fontPx + 2 * scale);
    ctx.fillStyle = COLORS[i % COLORS.length];
    ctx.fillText(s.name, x + 3, ty);
    ctx.globalAlpha = 1;
  });
  if (highlight) {
    const [x, y, w, h] = px(highlight);
    ctx.strokeStyle = "#ff4040";
    ctx.lineWidth = Math.max(3, 3 * scale);
    ctx.strokeRect(x, y, w, h);
  }
  canvas.dataset.boxes = String(structures.length);
}

function legend(structures) {
  const ul = $("structures");
  if (!ul) return;
  ul.innerHTML = "";
  structures.forEach((s, i) => {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = COLORS[i % COLORS.length];
    li.append(sw, document.createTextNode(s.name));
    ul.append(li);
  });
}

function show(structures, highlight) {
  current = { structures, highlight: highlight || null };
  legend(structures);
  draw($("canvas"), current.structures, current.highlight);
}

const names = root.dataset.names ? JSON.parse(root.dataset.names) : {};
const named = (answer) => (answer ? answer.structures : []).map((s) => ({ name: names[s.id] || s.id, box: s.box }));
const sideCanvases = () => [...document.querySelectorAll("canvas.record-canvas")];

events.on(events.BOXES, ({ structures, highlight }) => show(structures, highlight));
window.addEventListener("resize", () => {
  draw($("canvas"), current.structures, current.highlight);
  sideCanvases().forEach((c) => draw(c, named(JSON.parse(c.dataset.answer))));
});

function showErrors(ul, messages) {
  ul.innerHTML = "";
  messages.forEach((m) => { const li = document.createElement("li"); li.textContent = m; ul.append(li); });
}

// ------------------------------------------------------------------ a reader's record
function read() {
  const url = root.dataset.recordUrl;
  editor.setUp({ save: (body) => postJSON(url, body), onSaved: () => location.assign(root.dataset.doneUrl) });
  getJSON(url).then((data) => {
    $("read-start").textContent = data.record.started_from === "model"
      ? `You start from the model's answer (${data.record.started_model || "the model"}); change whatever you read otherwise.`
      : "You start from a blank image: choose the plane, box every key structure, add the deductions.";
    if (data.record.submitted_at) {
      $("read-submitted").hidden = false;
      show(named(data.record.answer));
      return;
    }
    editor.open(data);
  }, (err) => showErrors($("read-errors"), err.messages));
}

// ------------------------------------------------------------------ adjudication
function adjudicate() {
  const url = root.dataset.adjudicationUrl;
  let chosen = null;
  editor.setUp({
    save: (body) => postJSON(url, { ...body, from_record: chosen }),
    onSaved: () => location.assign(root.dataset.doneUrl),
  });
  getJSON(url).then((data) => {
    sideCanvases().forEach((c) => draw(c, named(JSON.parse(c.dataset.answer))));
    if (data.final_answer) {
      $("adjudicated").hidden = false;
      show(named(data.final_answer));
      document.querySelectorAll("button.use-record").forEach((b) => { b.disabled = true; });
      return;
    }
    document.querySelectorAll("button.use-record").forEach((b) => {
      b.addEventListener("click", () => {
        const record = data.records.find((r) => String(r.id) === b.dataset.record);
        chosen = record.id;
        $("adjudicate-from").textContent = `Starting from ${b.dataset.label}'s record: save it as it stands, or edit it first.`;
        editor.open({ rubric: data.rubric, correction: record.answer });
      });
    });
  }, (err) => showErrors($("read-errors"), err.messages));
}

image.onload = () => {
  draw($("canvas"), current.structures, current.highlight);
  sideCanvases().forEach((c) => draw(c, named(JSON.parse(c.dataset.answer))));
};
image.src = root.dataset.imageUrl;
if (root.dataset.mode === "read") read();
else if (root.dataset.mode === "adjudicate") adjudicate();
