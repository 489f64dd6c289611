// The scan page: draws the assessment as its events arrive over /ws/scans/<id>/.
// structure -> a box on the canvas; plane -> the label; deduction -> a list item whose region
// lights up on hover; score -> the badge; error -> a line; done -> final status.
// Boxes are on Qwen2-VL's 0-1000 grid. Every message carries a sequence number; a reconnect
// replays the saved events, and anything already drawn is skipped.
// Once a person has reviewed the scan (data-review: the correction in force, shaped like the
// events), that answer is the headline and is drawn by the same handlers; the AI's events
// still arrive and are kept for the "Show the AI's boxes" toggle and the "The AI said" card.
// While the analysis waits in the queue the page polls its position, and while a clip's frames
// are assessed it says how many are done (un-numbered "progress" messages); when it finishes live,
// the teaching panel is fetched again from the server, so the page is what a reload shows.
// It talks to the teaching panel (teaching.js) only through the events in events.js.
import { getJSON, getText } from "./api.js";
import * as events from "./events.js";

const root = document.getElementById("scan");
const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const COLORS = ["#00e5ff", "#ffea00", "#76ff03", "#ff4081", "#b388ff", "#ffab40", "#64ffda", "#ff6e40"];
const state = { structures: [], aiStructures: [], deductions: [], highlight: null, lastSeq: 0, finished: false, image: new Image() };
const finishedAtLoad = ["done", "failed"].includes(root.dataset.status);
const review = root.dataset.review ? JSON.parse(root.dataset.review) : null;
let reviewedStructures = [];
const el = (id) => document.getElementById(id);

state.image.onload = () => {
  canvas.width = state.image.naturalWidth;
  canvas.height = state.image.naturalHeight;
  draw();
};
state.image.src = root.dataset.imageUrl;
window.addEventListener("resize", () => draw());

const px = (box) => {
  const w = canvas.width, h = canvas.height;
  return [box[0] * w / 1000, box[1] * h / 1000, (box[2] - box[0]) * w / 1000, (box[3] - box[1]) * h / 1000];
};

function draw() {
  if (!canvas.width) return;
  ctx.drawImage(state.image, 0, 0);
  // sizes in screen pixels: the canvas is drawn at the image's size and shown at the page's,
  // so a label stays about 13 px on a phone as on a desktop
  const scale = canvas.width / Math.max(1, canvas.clientWidth || canvas.width);
  const lw = Math.max(2, 2 * scale);
  const fontPx = Math.round(13 * scale);
  ctx.font = `${fontPx}px system-ui, sans-serif`;
  canvas.dataset.labelPx = String(Math.round((fontPx / scale) * 10) / 10);
  state.structures.forEach((s, i) => {
    const [x, y, w, h] = px(s.box);
    ctx.strokeStyle = COLORS[i % COLORS.length];
    ctx.lineWidth = lw;
    ctx.globalAlpha = state.highlight ? 0.35 : 1;
    // a box the AI is less sure of than its threshold: a dashed guess, not a finding
    ctx.setLineDash(s.unsure ? [6 * scale, 4 * scale] : []);
    ctx.strokeRect(x, y, w, h);
    ctx.setLineDash([]);
    // the label on a dark plate: coloured text straight on speckle is hard to read
    const label = s.unsure ? `${s.name}?` : s.name;
    const ty = Math.max(fontPx, y - 4);
    ctx.fillStyle = "rgba(0, 0, 0, 0.7)";
    ctx.fillRect(x + 1, ty - fontPx + 2 * scale, ctx.measureText(label).width + 4 * scale, fontPx + 2 * scale);
    ctx.fillStyle = COLORS[i % COLORS.length];
    ctx.fillText(label, x + 3, ty);
    ctx.globalAlpha = 1;
  });
  if (state.highlight) {
    const [x, y, w, h] = px(state.highlight);
    ctx.fillStyle = "rgba(255, 64, 64, 0.28)";
    ctx.fillRect(x, y, w, h);
    ctx.strokeStyle = "#ff4040";
    ctx.lineWidth = lw * 1.5;
    ctx.strokeRect(x, y, w, h);
  }
  canvas.dataset.boxes = String(state.structures.length);
}

function regionOf(d) {
  if (d.box) return d.box;
  const s = state.structures.find((x) => x.structure === d.structure);
  return s ? s.box : [0, 0, 1000, 1000];  // a global item: the whole frame
}

// The plane line's calibrated confidence, in words a resident reads: of the planes the AI
// names with this confidence, about that share are right (scoring.calibration).
function certainty(p) {
  const pct = `${Math.round(p * 100)} %`;
  const words = p >= 0.9 ? "The AI is sure of this plane"
    : p >= 0.7 ? "The AI is fairly sure of this plane"
      : p >= 0.5 ? "The AI is unsure of this plane"
        : "The AI is guessing this plane";
  return `${words} (${pct}).`;
}

const handlers = {
  structure(ev) {
    state.structures.push(ev);
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = COLORS[(state.structures.length - 1) % COLORS.length];
    li.append(sw, document.createTextNode(ev.unsure ? `${ev.name} (unsure: not counted as found)` : ev.name));
    el("structures").append(li);
    draw();
  },
  plane(ev) {
    el("plane").textContent = ev.names && ev.names.length ? `${ev.names.join(" + ")} (${ev.planes.join(", ")})` : ev.planes.join(", ");
    const sure = el("plane-confidence");
    if (sure && typeof ev.confidence === "number") {
      sure.textContent = certainty(ev.confidence);
      sure.dataset.confidence = String(ev.confidence);
      sure.hidden = false;
    }
  },
  deduction(ev) {
    const li = document.createElement("li");
    li.dataset.item = ev.item;
    const pts = document.createElement("span");
    pts.className = "points";
    pts.textContent = `−${ev.points}`;
    // The rubric's wording of the item is the headline: the model's free-text reason is shown
    // beside it only when it says something else, never instead of it.
    const condition = document.createElement("span");
    condition.textContent = ev.condition || ev.reason;
    const parts = [pts, condition];
    if (ev.reason && ev.condition && ev.reason !== ev.condition) {
      const reason = document.createElement("span");
      reason.className = "reason";
      reason.textContent = `${ev.reason_by || "Model"}: “${ev.reason}”`;
      parts.push(reason);
    }
    const tip = document.createElement("span");
    tip.className = "tip";
    tip.textContent = ev.tip ? `Tip: ${ev.tip}` : "";
    li.append(...parts, tip);
    if (ev.added) {
      const added = document.createElement("em");
      added.className = "small added-note";
      added.textContent = " added by the instructor";
      li.append(added);
    }
    // Mouse, keyboard (Tab to it) and touch (tap it) all light up the region.
    li.tabIndex = 0;
    const on = () => { state.highlight = regionOf(ev); li.classList.add("active"); draw(); };
    const off = () => { state.highlight = null; li.classList.remove("active"); draw(); };
    li.addEventListener("mouseenter", on);
    li.addEventListener("mouseleave", off);
    li.addEventListener("focus", on);
    li.addEventListener("blur", off);
    li.addEventListener("click", () => (li.classList.contains("active") && document.activeElement !== li ? off() : on()));
    el("deductions").append(li);
    events.emit(events.DEDUCTION, { item: ev.item, element: li });
  },
  score(ev) {
    const badge = el("score-badge");
    badge.className = "badge " + String(ev.grade || "").toLowerCase();
    badge.innerHTML = "";
    badge.append(document.createTextNode(String(ev.score)));
    const g = document.createElement("small");
    g.textContent = ev.grade;
    badge.append(g);
    badge.dataset.score = ev.score;
    const rv = el("rubric-version");  // the page shows the version's name; a new one as it is
    if (rv.dataset.version !== ev.rubric_version) { rv.textContent = ev.rubric_version; rv.dataset.version = ev.rubric_version; }
    if (!el("deductions").children.length) el("no-deductions").hidden = false;
  },
  abstain(ev) {
    // The model declined: no grade, no findings; say why, plainly, where the grade would be.
    state.abstained = true;
    el("plane").textContent = "not assessed";
    const badge = el("score-badge");
    badge.className = "badge abstained";
    badge.textContent = "—";
    const note = el("abstain-reason");
    note.textContent = ev.reason;
    note.hidden = false;
    // nothing was assessed: no empty findings sections
    ["deductions-head", "deductions-hint", "no-deductions"].forEach((id) => { if (el(id)) el(id).hidden = true; });
  },
  error(ev) {
    const li = document.createElement("li");
    li.textContent = ev.message;
    el("errors").append(li);
  },
  done(ev) {
    const live = !state.finished && !finishedAtLoad;
    state.finished = true;
    hideQueue();
    if (review) return;  // the pill already says who reviewed it
    const status = el("status");
    status.textContent = ev.status === "failed" ? "failed"
      : state.abstained ? "not assessed · sent to an instructor"
      : (ev.needs_review ? "done · needs instructor review" : "done");
    status.className = "status status-" + (state.abstained && ev.status !== "failed" ? "abstained" : ev.status);
    const why = el("review-reasons");
    if (why && ev.needs_review && Array.isArray(ev.review_reasons) && ev.review_reasons.length) {
      why.replaceChildren(...ev.review_reasons.map((r) => {
        const li = document.createElement("li");
        li.textContent = r.charAt(0).toUpperCase() + r.slice(1) + ".";
        return li;
      }));
      why.hidden = false;
    }
    if (el("score-badge").classList.contains("pending")) el("score-badge").textContent = "—";
    getJSON(root.dataset.apiUrl)
      .then((s) => {
        const a = s.analysis;
        el("model-id").textContent = a.model_name ? `${a.model_name} (${a.model_id})` : a.model_id || "—";
      })
      .catch(() => {});
    if (live) refreshPanel();
  },
};

// The AI's events: drawn as the headline, unless a person's answer leads.
const AI_TYPES = new Set(["structure", "plane", "deduction", "score", "error", "abstain"]);
function handle(ev) {
  if (review && AI_TYPES.has(ev.type)) {
    if (ev.type === "structure") {
      state.aiStructures.push(ev);
      const toggle = el("toggle-ai-boxes");
      if (toggle) toggle.dataset.aiBoxes = String(state.aiStructures.length);
    }
    return;
  }
  (handlers[ev.type] || (() => {}))(ev);
}
if (review) {
  review.structures.forEach((s) => handlers.structure(s));
  reviewedStructures = state.structures;
  handlers.plane(review.plane);
  review.deductions.forEach((d) => handlers.deduction(d));
  handlers.score(review.score);
  const toggle = el("toggle-ai-boxes");
  if (toggle) {
    toggle.addEventListener("click", () => {
      const showAi = toggle.getAttribute("aria-pressed") !== "true";
      toggle.setAttribute("aria-pressed", String(showAi));
      toggle.textContent = showAi ? "Show the reviewed boxes" : "Show the AI's boxes";
      state.structures = showAi ? state.aiStructures : reviewedStructures;
      renderLegend();
      draw();
    });
  }
}
function renderLegend() {
  const ul = el("structures");
  ul.innerHTML = "";
  state.structures.forEach((s, i) => {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = COLORS[i % COLORS.length];
    li.append(sw, document.createTextNode(s.name));
    ul.append(li);
  });
}

// The teaching panel again from the server: the "You and the AI" table, the dispute form
// and the reviewer's tools appear exactly as a reload would show them.
function refreshPanel() {
  const old = document.getElementById("teaching");
  if (!old || !root.dataset.panelUrl) return;
  getText(root.dataset.panelUrl)
    .then((html) => {
      const tpl = document.createElement("template");
      tpl.innerHTML = html.trim();
      const fresh = tpl.content.getElementById("teaching");
      if (!fresh) return;
      old.replaceWith(fresh);
      events.emit(events.PANEL);
    })
    .catch(() => {});
}

// Queue position while the analysis waits for a worker.
function hideQueue() { const q = el("queue"); if (q) q.hidden = true; if (state.queueTimer) clearInterval(state.queueTimer); }
function pollQueue() {
  if (state.finished || state.lastSeq > 0) { hideQueue(); return; }
  getJSON(root.dataset.apiUrl)
    .then((s) => {
      const a = s.analysis || {};
      const q = el("queue");
      if (a.queue_position === null || a.queue_position === undefined || state.lastSeq > 0) { hideQueue(); if (a.status === "running" && !state.finished) el("status").textContent = "analysing…"; return; }
      q.hidden = false;
      q.textContent = a.queue_position ? `${a.queue_position} scan${a.queue_position === 1 ? "" : "s"} ahead of yours` : "yours is next";
      el("status").textContent = "queued";
    })
    .catch((err) => { if (err.status) hideQueue(); });  // refused: stop asking; offline: ask again
}
if (!el("queue").hidden) state.queueTimer = setInterval(pollQueue, 2000);

// A clip's sampled frames are assessed a batch at a time: how many are done, until the
// answer's first event comes.
function framesProgress(ev) {
  if (state.finished || state.lastSeq > 0 || ev.stage !== "assess") return;
  hideQueue();
  const p = el("frames-progress");
  p.textContent = `Frames assessed: ${ev.done} of ${ev.total}`;
  p.dataset.done = String(ev.done);
  p.hidden = false;
  if (!review) el("status").textContent = "analysing…";
}
function hideFramesProgress() { const p = el("frames-progress"); if (p) p.hidden = true; }

let retry = 500;
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/scans/${root.dataset.scanId}/`);
  ws.onopen = () => { retry = 500; if (!state.finished && el("queue").hidden && !review) { el("status").textContent = "analysing…"; } };
  ws.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    if (ev.type === "progress") { framesProgress(ev); return; }  // not an event: no number
    if (ev.seq <= state.lastSeq) return;
    hideFramesProgress();
    state.lastSeq = ev.seq;
    if (!state.finished) hideQueue();
    handle(ev);
  };
  ws.onclose = (e) => {
    if (state.finished || e.code === 4404 || e.code === 4401) return;
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 10000);
  };
}
connect();
// The reviewer's editor (teaching.js) draws the boxes it edits.
events.on(events.BOXES, ({ structures, highlight }) => {
  state.structures = structures;
  state.highlight = highlight || null;
  renderLegend();
  draw();
});
