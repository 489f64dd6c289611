// The clip on the scan page: the de-identified clip plays; under it a timeline marks each
// assessed frame with its grade, the chosen one starred. Selecting a mark seeks the clip there
// and draws that frame with its boxes (0-1000 grid) and lists its deductions. Until the
// analysis is done the timeline is polled from /api/scans/<id>/clip/. A resident on "self-assess
// first" gets no frame's grade from it until she has given her own score (the page reloads then).
import { getJSON } from "./api.js";

const root = document.getElementById("clip");
const video = document.getElementById("clip-video");
const timeline = document.getElementById("clip-timeline");
const playhead = document.getElementById("clip-playhead");
const canvas = document.getElementById("clip-canvas");
const ctx = canvas.getContext("2d");
const COLORS = ["#00e5ff", "#ffea00", "#76ff03", "#ff4081", "#b388ff", "#ffab40", "#64ffda", "#ff6e40"];
let clip = null, selected = -1;
let picked = false; // the resident chose a frame: the timeline's updates keep it, else the chosen one shows

function marks() { return Array.from(timeline.querySelectorAll(".mark")); }

function render() {
  marks().forEach((m) => m.remove());
  clip.sampled.forEach((f, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "mark" + (f.grade ? " grade-bg-" + f.grade.toLowerCase() : " pending") + (f.chosen ? " chosen" : "");
    b.style.left = (100 * f.time / Math.max(clip.duration, 1e-6)) + "%";
    b.dataset.index = String(f.index);
    b.dataset.grade = f.grade || "";
    b.title = `frame ${f.index + 1} at ${f.time.toFixed(2)} s` + (f.grade ? `: ${f.score} (${f.grade})` : "");
    b.textContent = f.chosen ? "★" : "";
    b.addEventListener("click", () => { picked = true; select(i, true); });
    timeline.appendChild(b);
  });
  const chosen = clip.sampled.findIndex((f) => f.chosen);
  // until she picks a frame herself, show the chosen one: it is known only once the analysis is
  // done, and the page may have opened while the clip was still being read
  select(picked ? selected : Math.max(chosen, 0), false);
}

function select(i, seek) {
  selected = i;
  const f = clip.sampled[i];
  marks().forEach((m, j) => m.classList.toggle("selected", j === i));
  if (seek) { video.pause(); video.currentTime = f.time; }
  canvas.dataset.frame = String(f.index);
  document.getElementById("clip-frame-label").textContent =
    `Frame ${f.index + 1} of ${clip.frames}` + (f.chosen ? " (chosen)" : "");
  const score = document.getElementById("clip-frame-score");
  score.textContent = f.grade ? `${f.score} · ${f.grade}`
    : clip.concealed ? "shown once you have given your own score" : "not assessed yet";
  score.className = "grade" + (f.grade ? " grade-" + f.grade.toLowerCase() : "");
  const list = document.getElementById("clip-deductions");
  list.replaceChildren();
  ((f.result || {}).deductions || []).forEach((d) => {
    const li = document.createElement("li");
    li.innerHTML = `<span class="points">−${d.points}</span>`;
    li.append(document.createTextNode(d.item));
    if (d.reason) { const r = document.createElement("span"); r.className = "reason"; r.textContent = d.reason; li.append(r); }
    list.append(li);
  });
  const image = new Image();
  image.onload = () => {
    canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
    ctx.drawImage(image, 0, 0);
    const lw = Math.max(2, canvas.width / 300);
    ((f.result || {}).structures || []).forEach((s, k) => {
      const [x0, y0, x1, y1] = s.box.map((v, n) => v * (n % 2 ? canvas.height : canvas.width) / 1000);
      ctx.strokeStyle = COLORS[k % COLORS.length]; ctx.lineWidth = lw;
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    });
    canvas.dataset.boxes = String(((f.result || {}).structures || []).length);
  };
  image.src = f.image_url;
}

function load() {
  getJSON(root.dataset.apiUrl)
    .then((data) => {
      clip = data;
      render();
      if (data.status !== "done" && data.status !== "failed") setTimeout(load, 1000);
    });
}

video.addEventListener("timeupdate", () => {
  if (clip) playhead.style.left = (100 * video.currentTime / Math.max(clip.duration, 1e-6)) + "%";
});
document.addEventListener("keydown", (e) => {
  if (!clip || !["ArrowLeft", "ArrowRight"].includes(e.key) || e.target.closest("input, textarea, select")) return;
  const next = selected + (e.key === "ArrowRight" ? 1 : -1);
  if (next >= 0 && next < clip.sampled.length) { e.preventDefault(); picked = true; select(next, true); }
});
load();
