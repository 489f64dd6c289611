// The scan page's teaching panel (templates/review/_scan_panel.html):
// - self-assessment first: the AI's answer stays hidden until the resident gives hers (or skips);
// - a dispute form for the resident;
// - remediation links on every deduction;
// - the reviewer's editor: move, resize, add and delete boxes on the canvas of scan.js, change
//   the plane, add or remove deductions with a reason; the rubric on the server scores it.
(function () {
  "use strict";
  const panel = document.getElementById("teaching");
  if (!panel) return;
  const $ = (id) => document.getElementById(id);
  const csrf = () => $("teaching-csrf").value;
  const scanRoot = document.getElementById("scan");

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json" },
      body: JSON.stringify(body || {}),
    }).then((r) => r.json().catch(() => ({})).then((data) => ({ ok: r.ok, data })));
  }
  function errorsOf(data) {
    if (Array.isArray(data)) return data;
    return Object.entries(data || {}).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((m) => (k === "errors" || k === "non_field_errors" ? String(m) : `${k}: ${typeof m === "string" ? m : JSON.stringify(m)}`)));
  }

  // ------------------------------------------------------------ remediation links
  const remedyUrl = (item) => panel.dataset.remediationUrl.replace("ITEM", encodeURIComponent(item)) + `?scan=${panel.dataset.scanId}`;
  const list = $("deductions");
  if (list) {
    const addLinks = () => list.querySelectorAll("li[data-item]").forEach((li) => {
      if (li.querySelector("a.remedy")) return;
      const a = document.createElement("a");
      a.className = "remedy";
      a.href = remedyUrl(li.dataset.item);
      a.textContent = "How to fix this";
      li.append(a);
    });
    new MutationObserver(addLinks).observe(list, { childList: true });
    addLinks();
  }

  // ------------------------------------------------------------ a review, announced at the top
  const review = $("correction");
  const aside = document.querySelector(".result");
  if (review && aside) {
    const note = document.createElement("p");
    note.className = "notice";
    note.id = "correction-note";
    const link = document.createElement("a");
    link.href = "#correction";
    link.textContent = `${review.querySelector("h2").textContent}: ${$("correction-badge").dataset.score} ${$("correction-badge").querySelector("small").textContent}`;
    note.append(link);
    aside.prepend(note);
  }

  // ------------------------------------------------------------ self-assessment first
  if (panel.dataset.conceal === "1" && scanRoot) {
    scanRoot.classList.add("concealed");
    const img = document.createElement("img");
    img.src = scanRoot.dataset.imageUrl;
    img.className = "plain-image";
    img.alt = "your scan";
    document.querySelector(".viewer").prepend(img);
    $("self-assess-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      post(panel.dataset.selfUrl, { planes: [$("self-plane").value], score: Number($("self-score").value) }).then(({ ok, data }) => {
        if (ok) { location.reload(); return; }
        $("self-error").hidden = false;
        $("self-error").textContent = errorsOf(data).join(" ");
      });
    });
    $("self-skip").addEventListener("click", () => post(panel.dataset.selfUrl, { skipped: true }).then(() => location.reload()));
  }

  // ------------------------------------------------------------ dispute
  const disputeForm = $("dispute-form");
  if (disputeForm) {
    disputeForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      post(panel.dataset.disputeUrl, { reason: $("dispute-reason").value }).then(({ ok, data }) => {
        if (ok) location.reload();
        else alert(errorsOf(data).join("\n"));
      });
    });
  }

  // ------------------------------------------------------------ the reviewer's editor
  if (panel.dataset.canReview !== "1") return;
  const S = () => window.abvlmqScan;
  let rubric = null, edit = null, selected = -1, drag = null, drawing = false;

  $("review-confirm").addEventListener("click", () => {
    post(panel.dataset.confirmUrl).then(({ ok, data }) => (ok ? location.reload() : alert(errorsOf(data).join("\n"))));
  });
  $("review-start").addEventListener("click", () => {
    fetch(panel.dataset.correctionsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => r.json()).then(start);
  });
  $("edit-cancel").addEventListener("click", () => location.reload());

  function start(data) {
    rubric = data.rubric;
    const base = data.correction || data.ai;
    edit = {
      planes: [...base.planes],
      structures: base.structures.map((s) => ({ structure: s.id, name: rubric.structures[s.id] || s.id, box: s.box.map(Number) })),
      deductions: base.deductions.map((d) => ({ item: d.item, reason: d.reason || "", box: d.box })),
    };
    const p1 = $("edit-plane"), p2 = $("edit-plane2");
    rubric.planes.forEach((p) => {
      p1.append(new Option(`${p.code} · ${p.name}`, p.code));
      p2.append(new Option(`${p.code} · ${p.name}`, p.code));
    });
    p1.value = edit.planes[0] || "";
    p2.value = edit.planes[1] || "";
    const onPlane = () => { edit.planes = [p1.value, p2.value].filter(Boolean); render(); };
    p1.addEventListener("change", onPlane);
    p2.addEventListener("change", onPlane);
    $("editor").hidden = false;
    $("review-start").hidden = true;
    $("canvas").classList.add("editing");
    S().state.structures = edit.structures;  // scan.js draws the editable boxes from now on
    render();
  }

  const planeDefs = () => rubric.planes.filter((p) => edit.planes.includes(p.code));
  function allowedStructures() {
    const defs = planeDefs();
    if (defs.some((p) => p.standard)) return [...new Set(defs.flatMap((p) => p.structures))];
    return Object.keys(rubric.structures);
  }
  function allowedItems() {
    const defs = planeDefs();
    const standard = defs.some((p) => p.standard);
    const have = new Set(edit.deductions.map((d) => d.item));
    return rubric.items.filter((i) => !have.has(i.id) && ((i.plane && edit.planes.includes(i.plane)) || (!i.plane && standard)));
  }
  const itemDef = (id) => rubric.items.find((i) => i.id === id);

  function button(text, cls, fn) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link " + cls;
    b.textContent = text;
    b.addEventListener("click", fn);
    return b;
  }

  function render() {
    const ul = $("edit-structures");
    ul.innerHTML = "";
    edit.structures.forEach((s, i) => {
      const li = document.createElement("li");
      li.dataset.structure = s.structure;
      if (i === selected) li.className = "selected";
      li.append(`${s.name} [${s.box.map((v) => Math.round(v)).join(", ")}] `);
      li.append(button("select", "select", () => { selected = i; render(); }));
      li.append(" ", button("delete", "remove", () => { edit.structures.splice(i, 1); selected = -1; render(); }));
      ul.append(li);
    });
    const addS = $("edit-add-structure");
    addS.innerHTML = "";
    allowedStructures().forEach((sid) => addS.append(new Option(rubric.structures[sid], sid)));

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
      input.addEventListener("input", () => { d.reason = input.value; });
      li.append(`−${def.points} ${d.item}: `, input, " ", button("remove", "remove", () => { edit.deductions.splice(i, 1); render(); }));
      dl.append(li);
    });
    const addI = $("edit-add-item");
    addI.innerHTML = "";
    allowedItems().forEach((i) => addI.append(new Option(`${i.id} (−${i.points}): ${i.condition}`, i.id)));

    const total = edit.deductions.reduce((t, d) => t + ((itemDef(d.item) || {}).points || 0), 0);
    const score = Math.min(rubric.max_score, Math.max(0, rubric.max_score - total));
    let grade = rubric.grades[0].name;
    rubric.grades.forEach((g) => { if (score >= g.min) grade = g.name; });
    $("edit-score").textContent = String(score);
    $("edit-grade").textContent = grade;
    S().state.highlight = selected >= 0 && edit.structures[selected] ? edit.structures[selected].box : null;
    S().draw();
  }

  $("edit-add").addEventListener("click", () => {
    const item = $("edit-add-item").value;
    if (!item) return;
    edit.deductions.push({ item, reason: $("edit-add-reason").value, box: null });
    $("edit-add-reason").value = "";
    render();
  });
  $("edit-draw").addEventListener("click", () => {
    drawing = true;
    $("edit-mode").textContent = "drag on the image to draw the box";
  });
  $("edit-save").addEventListener("click", () => {
    const body = {
      planes: edit.planes,
      structures: edit.structures.map((s) => ({ id: s.structure, box: s.box.map(Math.round) })),
      deductions: edit.deductions.map((d) => ({ item: d.item, reason: d.reason, box: d.box })),
      note: $("edit-note").value,
    };
    post(panel.dataset.correctionsUrl, body).then(({ ok, data }) => {
      if (ok) { location.reload(); return; }
      const errs = $("edit-errors");
      errs.innerHTML = "";
      errorsOf(data).forEach((m) => { const li = document.createElement("li"); li.textContent = m; errs.append(li); });
    });
  });

  // Mouse on the canvas: coordinates on the 0-1000 grid of the boxes.
  const canvas = $("canvas");
  const grid = (ev) => {
    const r = canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) / r.width * 1000, (ev.clientY - r.top) / r.height * 1000];
  };
  const clamp = (v) => Math.min(1000, Math.max(0, v));
  const area = (b) => (b[2] - b[0]) * (b[3] - b[1]);
  canvas.addEventListener("mousedown", (ev) => {
    if (!edit) return;
    ev.preventDefault();
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
    const near = 25;
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
  window.addEventListener("mousemove", (ev) => {
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
    S().state.highlight = s.box;
    S().draw();
  });
  window.addEventListener("mouseup", () => {
    if (!drag) return;
    const s = edit.structures[drag.i];
    const [x1, y1, x2, y2] = s.box;
    s.box = [Math.min(x1, x2), Math.min(y1, y2), Math.max(x1, x2), Math.max(y1, y2)].map((v) => Math.round(clamp(v)));
    if (s.box[2] - s.box[0] < 5 || s.box[3] - s.box[1] < 5) { edit.structures.splice(drag.i, 1); selected = -1; }
    drag = null;
    render();
  });
})();
