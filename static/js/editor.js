// The box editor: a person's whole answer on a scan (planes, boxes, deductions, the rubric's
// score), used by the reviewer's correction on the scan page (teaching.js) and by an annotation
// campaign's readers and adjudicator (annotate.js). Move, resize, add and delete boxes on the
// page's <canvas id="canvas"> with the mouse, a finger (pointer events) or the keyboard (arrows
// move the selected box, Shift+arrows resize it, Delete removes it); change the plane (what no
// longer applies to it is taken out, and the editor says what); add or remove deductions with a
// reason. The rubric's rule is kept as one edits: every key structure of a standard plane is
// boxed or carries its "not displayed" deduction. The server scores and checks it again.
// Its markup is templates/_partials/box_editor.html; the viewer draws the boxes it edits
// (events.BOXES, on the page's <div id="scan">).
import * as events from "./events.js";

const $ = (id) => document.getElementById(id);

function showErrors(ul, messages) {
  ul.innerHTML = "";
  messages.forEach((m) => { const li = document.createElement("li"); li.textContent = m; ul.append(li); });
}

let rubric = null, edit = null, selected = -1, drag = null, drawing = false, canvasBound = false;
const STEP = 10;  // grid units per arrow key (the grid is 0-1000)

let opts = { save: null, onSaved: null, onPlanes: null };

// Bind the editor's controls (the markup of templates/_partials/box_editor.html) on this page:
// save(body) posts the answer and returns a promise; onSaved(result) runs when it resolved;
// onPlanes(planes) hears every plane change (the scan page follows its example card).
export function setUp({ save: saveFn, onSaved, onPlanes = null }) {
  opts = { save: saveFn, onSaved, onPlanes };
  $("edit-cancel").addEventListener("click", () => location.reload());
  $("edit-add").addEventListener("click", addDeduction);
  $("edit-draw").addEventListener("click", () => {
    drawing = true;
    $("edit-mode").textContent = "drag on the image to draw the box";
  });
  $("edit-add-box").addEventListener("click", () => {
    const sid = $("edit-add-structure").value;
    if (!sid) return;
    edit.structures.push({ structure: sid, name: rubric.structures[sid], box: [400, 400, 600, 600] });
    selected = edit.structures.length - 1;
    render();
    $("canvas").focus();
    $("edit-mode").textContent = "box added in the middle: arrows move it, Shift+arrows resize it";
  });
  $("edit-save").addEventListener("click", save);
  const onPlane = () => {
    if (!edit) return;
    edit.planes = [$("edit-plane").value, $("edit-plane2").value].filter(Boolean);
    if (opts.onPlanes) opts.onPlanes(edit.planes);
    prune();
    render();
  };
  $("edit-plane").addEventListener("change", onPlane);
  $("edit-plane2").addEventListener("change", onPlane);
  bindCanvas();
}

// Open the editor on an answer: data.correction (a person's answer) or else data.ai (the
// model's), or a blank image when neither is given; data.rubric is what the editor offers
// (review.assessments.rubric_options). May be called again to start over from another answer.
export function open(data) {
  rubric = data.rubric;
  const base = data.correction || data.ai || { planes: [], structures: [], deductions: [] };
  edit = {
    planes: [...base.planes],
    structures: base.structures.map((s) => ({ structure: s.id, name: rubric.structures[s.id] || s.id, box: s.box.map(Number) })),
    deductions: base.deductions.map((d) => ({ item: d.item, reason: d.reason || "", box: d.box })),
  };
  selected = -1;
  const p1 = $("edit-plane"), p2 = $("edit-plane2");
  p1.innerHTML = "";
  p2.innerHTML = "";
  p2.append(new Option("none", ""));
  // no plane yet (the AI declined the scan, or a blank start): the reader picks one first
  if (!edit.planes.length) p1.append(new Option("choose the plane…", ""));
  rubric.planes.forEach((p) => {
    p1.append(new Option(`${p.code} · ${p.name}`, p.code));
    p2.append(new Option(`${p.code} · ${p.name}`, p.code));
  });
  p1.value = edit.planes[0] || "";
  p2.value = edit.planes[1] || "";
  showAI(data.ai);
  // Beside the image: the editor takes the place of the headline in the result column.
  const aside = $("result");
  const editor = $("editor");
  if (aside) { aside.append(editor); aside.classList.add("editing"); }
  editor.hidden = false;
  const canvas = $("canvas");
  canvas.classList.add("editing");
  canvas.tabIndex = 0;
  canvas.setAttribute("aria-label", "The scan with the boxes you are editing: select a box, then arrows move it, Shift+arrows resize it, Delete removes it");
  $("edit-pruned").textContent = "";
  $("edit-accounted").textContent = "";
  render();  // from now on the viewer draws the boxes being edited
  p1.focus();
}

// The answer as it stands, in the shape the server takes.
export function answer() {
  return {
    planes: edit.planes,
    structures: edit.structures.map((s) => ({ id: s.structure, box: s.box.map(Math.round) })),
    deductions: edit.deductions.map((d) => ({ item: d.item, reason: d.reason, box: d.box })),
  };
}

const planeDefs = () => rubric.planes.filter((p) => edit.planes.includes(p.code));
function allowedStructureIds() {
  const defs = planeDefs();
  if (defs.some((p) => p.standard)) return [...new Set(defs.flatMap((p) => p.structures))];
  return Object.keys(rubric.structures);
}
function applies(item) {
  const standard = planeDefs().some((p) => p.standard);
  return (item.plane && edit.planes.includes(item.plane)) || (!item.plane && standard);
}
function allowedItems() {
  const have = new Set(edit.deductions.map((d) => d.item));
  return rubric.items.filter((i) => !have.has(i.id) && applies(i));
}
const itemDef = (id) => rubric.items.find((i) => i.id === id);
const planeName = () => planeDefs().map((p) => p.name).join(" + ") || "no plane";

// A new plane: boxes of structures that are not its key structures, and deductions that do
// not apply to it, go; the editor says what went, so nothing disappears unannounced.
function prune() {
  const allowed = new Set(allowedStructureIds());
  const goneS = edit.structures.filter((s) => !allowed.has(s.structure));
  const goneD = edit.deductions.filter((d) => { const def = itemDef(d.item); return !def || !applies(def); });
  edit.structures = edit.structures.filter((s) => allowed.has(s.structure));
  edit.deductions = edit.deductions.filter((d) => !goneD.includes(d));
  selected = -1;
  const parts = [];
  if (goneS.length) parts.push(`boxes of ${goneS.map((s) => s.name).join(", ")}`);
  if (goneD.length) parts.push(`deductions ${goneD.map((d) => (itemDef(d.item) || { condition: d.item }).condition).join("; ")}`);
  $("edit-pruned").textContent = parts.length ? `Removed, since they do not apply to ${planeName()}: ${parts.join("; and ")}.` : "";
}

// The rubric's rule: every key structure of a standard plane is boxed or carries its "not
// displayed" deduction. After every change the editor keeps it: a key structure left without
// a box gets that deduction (marked, and the score follows), and a structure boxed again loses
// it. So a new plane or a deleted box can never leave a perfect score for what is not shown.
function account() {
  const defs = planeDefs();
  const notes = [];
  if (!defs.some((p) => p.standard)) return notes;
  const boxed = new Set(edit.structures.map((s) => s.structure));
  edit.deductions = edit.deductions.filter((d) => {
    const def = itemDef(d.item);
    const shown = def && def.kind === "missing" && boxed.has(def.structure);
    if (shown) notes.push(`took out “${def.condition}”: the ${rubric.structures[def.structure]} has a box`);
    return !shown;
  });
  const have = new Set(edit.deductions.map((d) => d.item));
  allowedStructureIds().forEach((sid) => {
    if (boxed.has(sid)) return;
    const owners = defs.filter((p) => p.structures.includes(sid)).map((p) => p.code);
    if (owners.some((c) => have.has(`${c}.${sid}.missing`))) return;
    const def = itemDef(`${owners[0]}.${sid}.missing`);
    if (!def) return;
    edit.deductions.push({ item: def.id, reason: "", box: null, auto: true });
    notes.push(`added “${def.condition}” (−${def.points}): the ${rubric.structures[sid]} has no box`);
  });
  const rank = (d) => rubric.items.findIndex((i) => i.id === d.item);
  if (notes.length) edit.deductions.sort((a, b) => rank(a) - rank(b));
  return notes;
}

// The AI's own answer stays in sight while the editor is open, to compare side by side.
function showAI(ai) {
  const summary = $("edit-ai-summary"), list = $("edit-ai-deductions");
  if ($("edit-ai")) $("edit-ai").hidden = !ai;
  if (!summary || !ai) return;
  const score = ai.score === null || ai.score === undefined ? "no score" : `${ai.score} ${ai.grade || ""}`;
  summary.textContent = `Plane ${ai.planes.join(" + ") || "none"} · ${score} · ${ai.structures.length} box${ai.structures.length === 1 ? "" : "es"}`;
  list.innerHTML = "";
  ai.deductions.forEach((d) => {
    const def = itemDef(d.item) || { points: d.points, condition: d.item };
    const li = document.createElement("li");
    li.dataset.item = d.item;
    li.textContent = `−${def.points} ${def.condition}`;
    list.append(li);
  });
  if (!ai.deductions.length) list.append(Object.assign(document.createElement("li"), { textContent: "No deductions.", className: "muted" }));
}

function button(text, cls, fn, label) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "link " + cls;
  b.textContent = text;
  if (label) b.setAttribute("aria-label", label);
  b.addEventListener("click", fn);
  return b;
}

function render() {
  const notes = account();
  if (notes.length) $("edit-accounted").textContent = `The rubric's rule: ${notes.join("; ")}.`;
  const ul = $("edit-structures");
  ul.innerHTML = "";
  edit.structures.forEach((s, i) => {
    const li = document.createElement("li");
    li.dataset.structure = s.structure;
    if (i === selected) li.className = "selected";
    li.append(`${s.name} [${s.box.map((v) => Math.round(v)).join(", ")}] `);
    li.append(button(i === selected ? "selected" : "select", "select", () => { selected = i; render(); $("canvas").focus(); }, `Select the ${s.name} box`));
    li.append(" ", button("delete", "remove", () => { edit.structures.splice(i, 1); selected = -1; render(); }, `Delete the ${s.name} box`));
    ul.append(li);
  });
  const addS = $("edit-add-structure");
  addS.innerHTML = "";
  allowedStructureIds().forEach((sid) => addS.append(new Option(rubric.structures[sid], sid)));

  const dl = $("edit-deductions");
  dl.innerHTML = "";
  edit.deductions.forEach((d, i) => {
    const def = itemDef(d.item) || { points: 0, condition: d.item };
    const li = document.createElement("li");
    li.dataset.item = d.item;
    const input = document.createElement("input");
    input.value = d.reason;
    input.placeholder = def.condition;
    input.className = "reason";
    input.setAttribute("aria-label", `Reason for: ${def.condition}`);
    input.addEventListener("input", () => { d.reason = input.value; });
    li.append(`−${def.points} ${def.condition}: `, input, " ");
    if (d.auto) li.append(Object.assign(document.createElement("em"), { className: "small auto", textContent: "added: no box " }));
    // a "not displayed" deduction goes when its structure gets a box, not by hand: removing it
    // alone would score what is not shown as perfect
    if (def.kind !== "missing") li.append(button("remove", "remove", () => { edit.deductions.splice(i, 1); render(); }, `Remove the deduction ${def.condition}`));
    else li.append(Object.assign(document.createElement("span"), { className: "muted small", textContent: "draw its box to take it out" }));
    dl.append(li);
  });
  const addI = $("edit-add-item");
  addI.innerHTML = "";
  allowedItems().forEach((i) => addI.append(new Option(`−${i.points} ${i.condition}`, i.id)));

  const valid = edit.deductions.filter((d) => itemDef(d.item));
  const total = valid.reduce((t, d) => t + itemDef(d.item).points, 0);
  const score = Math.min(rubric.max_score, Math.max(0, rubric.max_score - total));
  let grade = rubric.grades[0].name;
  rubric.grades.forEach((g) => { if (score >= g.min) grade = g.name; });
  $("edit-score").textContent = String(score);
  $("edit-grade").textContent = grade;
  const highlight = selected >= 0 && edit.structures[selected] ? edit.structures[selected].box : null;
  events.emit(events.BOXES, { structures: edit.structures, highlight });
}

function addDeduction() {
  const item = $("edit-add-item").value;
  if (!item) return;
  edit.deductions.push({ item, reason: $("edit-add-reason").value, box: null });
  $("edit-add-reason").value = "";
  render();
}

function save() {
  const note = $("edit-note");
  const body = note ? { ...answer(), note: note.value } : answer();
  opts.save(body).then((result) => opts.onSaved(result), (err) => {
    showErrors($("edit-errors"), err.messages);
    $("edit-errors").focus();
  });
}

// Pointer (mouse, pen, finger) and keyboard on the canvas: coordinates on the 0-1000 grid.
function bindCanvas() {
  if (canvasBound) return;
  canvasBound = true;
  const canvas = $("canvas");
  const grid = (ev) => {
    const r = canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) / r.width * 1000, (ev.clientY - r.top) / r.height * 1000];
  };
  const clamp = (v) => Math.min(1000, Math.max(0, v));
  const area = (b) => (b[2] - b[0]) * (b[3] - b[1]);
  canvas.addEventListener("pointerdown", (ev) => {
    if (!edit) return;
    ev.preventDefault();
    canvas.setPointerCapture(ev.pointerId);
    const [x, y] = grid(ev);
    if (drawing) {
      const sid = $("edit-add-structure").value;
      if (!sid) return;
      edit.structures.push({ structure: sid, name: rubric.structures[sid], box: [x, y, x, y] });
      selected = edit.structures.length - 1;
      drag = { kind: "corner", i: selected, corner: [2, 3] };
      drawing = false;
      $("edit-mode").textContent = "";
      return;
    }
    const near = ev.pointerType === "touch" ? 45 : 25;
    let best = -1;
    edit.structures.forEach((s, i) => {
      const b = s.box;
      const inside = x >= b[0] - near && x <= b[2] + near && y >= b[1] - near && y <= b[3] + near;
      if (inside && (best < 0 || area(b) < area(edit.structures[best].box))) best = i;
    });
    selected = best;
    if (best < 0) { render(); return; }
    const b = edit.structures[best].box;
    const cx = Math.abs(x - b[0]) < near ? 0 : Math.abs(x - b[2]) < near ? 2 : -1;
    const cy = Math.abs(y - b[1]) < near ? 1 : Math.abs(y - b[3]) < near ? 3 : -1;
    drag = cx >= 0 && cy >= 0 ? { kind: "corner", i: best, corner: [cx, cy] } : { kind: "move", i: best, from: [x, y], box0: [...b] };
    render();
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const [x, y] = grid(ev);
    const s = edit.structures[drag.i];
    if (drag.kind === "move") {
      const w = drag.box0[2] - drag.box0[0], h = drag.box0[3] - drag.box0[1];
      const nx = Math.min(1000 - w, Math.max(0, drag.box0[0] + x - drag.from[0]));
      const ny = Math.min(1000 - h, Math.max(0, drag.box0[1] + y - drag.from[1]));
      s.box = [nx, ny, nx + w, ny + h];
    } else {
      s.box[drag.corner[0]] = clamp(x);
      s.box[drag.corner[1]] = clamp(y);
    }
    events.emit(events.BOXES, { structures: edit.structures, highlight: s.box });
  });
  const end = () => {
    if (!drag) return;
    const s = edit.structures[drag.i];
    const [x1, y1, x2, y2] = s.box;
    s.box = [Math.min(x1, x2), Math.min(y1, y2), Math.max(x1, x2), Math.max(y1, y2)].map((v) => Math.round(clamp(v)));
    if (s.box[2] - s.box[0] < 5 || s.box[3] - s.box[1] < 5) { edit.structures.splice(drag.i, 1); selected = -1; }
    drag = null;
    render();
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("keydown", (ev) => {
    if (!edit) return;
    if (ev.key === "Tab") return;
    if (ev.key === "n" || ev.key === "N") {  // next box
      if (!edit.structures.length) return;
      selected = (selected + 1) % edit.structures.length;
      ev.preventDefault();
      render();
      return;
    }
    const s = edit.structures[selected];
    if (!s) return;
    if (ev.key === "Delete" || ev.key === "Backspace") {
      edit.structures.splice(selected, 1);
      selected = -1;
      ev.preventDefault();
      render();
      return;
    }
    const d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[ev.key];
    if (!d) return;
    ev.preventDefault();
    const step = ev.altKey ? 1 : STEP;
    const b = s.box;
    if (ev.shiftKey) {  // resize: the bottom-right corner
      b[2] = Math.max(b[0] + 5, clamp(b[2] + d[0] * step));
      b[3] = Math.max(b[1] + 5, clamp(b[3] + d[1] * step));
    } else {
      const w = b[2] - b[0], h = b[3] - b[1];
      const nx = Math.min(1000 - w, Math.max(0, b[0] + d[0] * step));
      const ny = Math.min(1000 - h, Math.max(0, b[1] + d[1] * step));
      s.box = [nx, ny, nx + w, ny + h];
    }
    render();
  });
}
