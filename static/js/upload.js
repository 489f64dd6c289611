// Multi-file upload with per-file progress. XMLHttpRequest, because fetch() reports no upload
// progress. Two files travel at a time; each row links to its scan page once stored.
import { csrfToken } from "./api.js";

const form = document.getElementById("upload-form");
const zone = document.getElementById("dropzone");
const input = document.getElementById("files");
const list = document.getElementById("uploads");
const endpoint = form.dataset.endpoint;
const scanUrl = (id) => form.dataset.scanUrl.replace(/0\/$/, id + "/");
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

function send(job) {
  active += 1;
  const data = new FormData();
  data.append("file", job.file);
  const assignment = document.getElementById("assignment").value;
  if (assignment) data.append("assignment", assignment);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", endpoint);
  xhr.setRequestHeader("X-CSRFToken", csrfToken());
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) job.ui.bar.value = Math.round((100 * e.loaded) / e.total);
    job.ui.state.textContent = "uploading " + job.ui.bar.value + "%";
  };
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
    if (xhr.status === 201) {
      job.ui.bar.value = 100;
      job.ui.state.textContent = "";
      const a = document.createElement("a");
      a.href = scanUrl(body.id);
      a.className = "scan-link";
      a.textContent = body.is_ultrasound ? "Stored · view assessment" : "Not a scan · view";
      job.ui.state.append(a);
      job.ui.li.dataset.scanId = body.id;
    } else {
      job.ui.bar.hidden = true;  // a refused file did not "arrive": no full progress bar
      job.ui.li.classList.add("refused");
      job.ui.state.className = "state failed";
      job.ui.state.textContent = body.detail || (body.file && body.file[0]) ||
        (body.assignment && body.assignment[0]) || ("Upload failed (" + xhr.status + ")");
    }
    done();
  };
  xhr.onerror = () => { job.ui.bar.hidden = true; job.ui.state.className = "state failed"; job.ui.state.textContent = "Network error"; done(); };
  xhr.send(data);
}

function done() { active -= 1; pump(); }
function pump() { while (active < PARALLEL && queue.length) send(queue.shift()); }
function add(files) {
  for (const file of files) queue.push({ file, ui: row(file) });
  pump();
}

input.addEventListener("change", () => { add(input.files); input.value = ""; });
["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.remove("over"); }));
zone.addEventListener("drop", (e) => add(e.dataTransfer.files));
// The drop area is a button for the keyboard: Enter or Space opens the file chooser.
zone.addEventListener("keydown", (e) => {
  if (e.target !== zone || (e.key !== "Enter" && e.key !== " ")) return;
  e.preventDefault();
  input.click();
});
