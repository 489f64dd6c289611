// Multi-file upload with per-file progress. XMLHttpRequest, because fetch() reports no upload
// progress. Two files travel at a time. One file chosen alone opens its scan page once stored;
// several stay listed here, each row following its analysis (queued, assessing, a clip's frames
// assessed, the score) until it is done, with a link to its page. A clip's row says how many of
// its frames are read and de-identified while its request runs, then how many are assessed.
import { csrfToken, getJSON } from "./api.js";

const form = document.getElementById("upload-form");
const zone = document.getElementById("dropzone");
const input = document.getElementById("files");
const list = document.getElementById("uploads");
const endpoint = form.dataset.endpoint;
const scanUrl = (id) => form.dataset.scanUrl.replace(/0\/$/, id + "/");
const apiUrl = (id) => form.dataset.apiUrl.replace(/0\/$/, id + "/");
const POLL_MS = 2000;
const MAX_WAITS = 60;  // a file refused by a limit this often is reported as refused
const queue = [];
let active = 0;
const PARALLEL = 2;

function row(file) {
  const li = document.createElement("li");
  li.className = "upload";
  const name = document.createElement("span");
  name.textContent = file.name;
  const bar = document.createElement("progress");
  bar.max = 100; bar.value = 0;
  bar.setAttribute("aria-label", `Upload of ${file.name}`);
  const state = document.createElement("span");
  state.className = "state";
  state.setAttribute("role", "status");
  state.textContent = "waiting";
  li.append(name, bar, state);
  list.prepend(li);
  return { li, bar, state };
}

// A clip's intake takes seconds after the bytes are sent (every frame de-identified): the
// server reports each frame on /ws/uploads/<key>/ while the request runs, and the row says so.
const CLIP_TYPES = /^(video\/|application\/dicom)/;
function watchIntake(job) {
  if (!(CLIP_TYPES.test(job.file.type || "") || job.file.size > 4 * 1024 * 1024)) return null;
  if (!window.WebSocket || !window.crypto || !crypto.randomUUID) return null;
  const key = crypto.randomUUID();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let ws;
  try { ws = new WebSocket(`${scheme}://${location.host}/ws/uploads/${key}/`); } catch (e) { return null; }
  ws.onmessage = (m) => {
    let p = {};
    try { p = JSON.parse(m.data); } catch (e) { return; }
    if (p.stage === "deidentify") {
      job.ui.bar.value = Math.round((100 * p.done) / Math.max(1, p.total));
      job.ui.state.textContent = `frames read and de-identified: ${p.done} of ${p.total}`;
    } else if (p.stage === "encode") {
      job.ui.state.textContent = `all ${p.total} frames read and de-identified · storing the clip`;
    }
  };
  return { key, close: () => { try { ws.close(); } catch (e) { /* closed already */ } } };
}

function send(job) {
  active += 1;
  const data = new FormData();
  data.append("file", job.file);
  const assignment = document.getElementById("assignment").value;
  if (assignment) data.append("assignment", assignment);
  const watch = watchIntake(job);
  if (watch) data.append("progress", watch.key);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", endpoint);
  xhr.setRequestHeader("X-CSRFToken", csrfToken());
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) job.ui.bar.value = Math.round((100 * e.loaded) / e.total);
    job.ui.state.textContent = "uploading " + job.ui.bar.value + "%";
    if (e.lengthComputable && e.loaded === e.total && watch) {
      job.ui.state.textContent = "uploaded · reading the clip's frames…";
    }
  };
  xhr.onload = () => {
    if (watch) watch.close();
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
    if (xhr.status === 201) {
      job.ui.bar.value = 100;
      job.ui.state.textContent = "";
      const a = document.createElement("a");
      a.href = scanUrl(body.id);
      a.className = "scan-link";
      a.textContent = body.is_ultrasound ? "Stored" : "Not a scan · view";
      job.ui.state.append(a);
      job.ui.li.dataset.scanId = body.id;
      if (job.alone) { location.assign(a.href); return; }
      if (body.is_ultrasound) follow(job, body.id, a, body.frames > 1);
    } else if (xhr.status === 429 && (job.waits || 0) < MAX_WAITS) {
      // a limit, not a fault: the file waits its turn and goes again
      job.waits = (job.waits || 0) + 1;
      const after = Math.max(1, Number(xhr.getResponseHeader("Retry-After")) || 5);
      job.ui.bar.value = 0;
      job.ui.state.textContent = `waiting to send (${body.code === "quota" ? "many scans queued" : "many uploads"}), again in ${after} s`;
      job.ui.li.dataset.status = "waiting";
      setTimeout(() => { queue.unshift(job); pump(); }, after * 1000);
    } else {
      job.ui.bar.hidden = true;  // a refused file did not "arrive": no full progress bar
      job.ui.li.classList.add("refused");
      job.ui.state.className = "state failed";
      job.ui.state.textContent = body.detail || (body.file && body.file[0]) ||
        (body.assignment && body.assignment[0]) || ("Upload failed (" + xhr.status + ")");
    }
    done();
  };
  xhr.onerror = () => { if (watch) watch.close(); job.ui.bar.hidden = true; job.ui.state.className = "state failed"; job.ui.state.textContent = "Network error"; done(); };
  xhr.send(data);
}

// A clip's frames are assessed a batch at a time: the scan's socket says how many are done
// (un-numbered "progress" messages; the row's polling says when it is finished).
function framesAssessed(job, id) {
  if (!window.WebSocket) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let ws;
  try { ws = new WebSocket(`${scheme}://${location.host}/ws/scans/${id}/`); } catch (e) { return; }
  job.closeFrames = () => { try { ws.close(); } catch (e) { /* closed already */ } };
  ws.onmessage = (m) => {
    let p = {};
    try { p = JSON.parse(m.data); } catch (e) { return; }
    if (p.type === "progress" && p.stage === "assess") {
      job.assessed = `Assessing · frames assessed: ${p.done} of ${p.total}`;
      if (job.ui.li.dataset.status === "running" || job.ui.li.dataset.status === "queued") {
        job.ui.li.dataset.status = "running";
        job.link.textContent = job.assessed;
      }
    }
  };
}

// A row follows its analysis: where it waits, then its score (or why there is none).
function follow(job, id, link, clip) {
  job.link = link;
  if (clip) framesAssessed(job, id);
  const show = (analysis) => {
    const s = analysis || {};
    job.ui.li.dataset.status = s.status || "";
    if (s.status !== "queued" && s.status !== "running" && job.closeFrames) job.closeFrames();
    if (s.status === "queued") link.textContent = s.queue_position ? `Queued · ${s.queue_position} ahead` : "Queued · next";
    else if (s.status === "running") link.textContent = job.assessed || "Assessing…";
    else if (s.status === "failed") link.textContent = "Could not be assessed · view";
    else if (s.status === "done") {
      link.textContent = s.abstained ? "Not assessed · sent to an instructor"
        : s.concealed ? "Assessed · give your own score first"
          : `${s.score} ${s.grade || ""} · view`;
      return true;
    }
    return s.status === "failed";
  };
  const poll = () => getJSON(apiUrl(id)).then(
    (scan) => { if (!show(scan.analysis)) setTimeout(poll, POLL_MS); },
    () => setTimeout(poll, POLL_MS * 3),  // a network blip: try again later
  );
  poll();
}

function done() { active -= 1; pump(); }
function pump() { while (active < PARALLEL && queue.length) send(queue.shift()); }
function add(files) {
  const alone = files.length === 1 && !queue.length && !active && !list.children.length;
  for (const file of files) queue.push({ file, ui: row(file), alone });
  pump();
}

input.addEventListener("change", () => { add(input.files); input.value = ""; });
["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.remove("over"); }));
zone.addEventListener("drop", (e) => add(e.dataTransfer.files));
// The one file chooser is the "Choose scans" button: Enter or Space on it opens the chooser.
const chooser = document.getElementById("choose-files");
chooser.addEventListener("keydown", (e) => {
  if (e.key !== "Enter" && e.key !== " ") return;
  e.preventDefault();
  input.click();
});
