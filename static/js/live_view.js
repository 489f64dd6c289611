// What the live page and the instructor's watch page both show of a live view message
// ({"type": "live", "state", "plane", "plane_name", "confidence", "quality", "grade",
// "structures"}; scoring.live.Smoother) and of a capture (the strip).
import { getJSON } from "./api.js";

const $ = (id) => document.getElementById(id);

export function showView(view) {
  const plane = $("live-plane");
  const confidence = $("live-confidence");
  const meter = $("quality-meter");
  const quality = $("quality-text");
  const list = $("live-structures");
  if (view.state !== "scanning") {
    plane.textContent = view.message || "Not a scan of a known plane.";
    plane.dataset.plane = "";
    plane.dataset.state = view.state;
    confidence.textContent = "";
    meter.value = 0;
    quality.textContent = "";
    list.replaceChildren();
    return;
  }
  plane.textContent = `${view.plane_name} (${view.plane})`;
  plane.dataset.plane = view.plane;
  plane.dataset.state = view.state;
  confidence.textContent = `${Math.round(view.confidence * 100)} % sure`;
  meter.value = view.quality;
  quality.textContent = `about ${view.quality.toFixed(1)} of 10 · ${view.grade}`;
  quality.dataset.grade = view.grade;
  list.replaceChildren(...view.structures.map((s) => {
    const li = document.createElement("li");
    li.className = s.shown ? "shown" : "missing";
    li.dataset.structure = s.id;
    li.textContent = `${s.shown ? "✓" : "·"} ${s.name}`;
    li.setAttribute("aria-label", `${s.name}: ${s.shown ? "shown" : "not seen yet"}`);
    return li;
  }));
}

const scanUrl = (root, id) => root.dataset.scanUrl.replace(/0\/$/, id + "/");
const apiUrl = (root, id) => root.dataset.apiUrl.replace(/0\/$/, id + "/");

// A capture in the strip, following its analysis until the full model has answered.
export function addToStrip(root, scanId, { auto = false, plane = "", clip = false } = {}) {
  const strip = $("strip");
  const li = document.createElement("li");
  li.dataset.scanId = scanId;
  const link = document.createElement("a");
  link.href = scanUrl(root, scanId);
  link.textContent = `${clip ? "Clip" : "Scan"} #${scanId}`;
  const state = document.createElement("span");
  state.className = "state";
  state.textContent = auto ? "auto-captured · queued" : "queued";
  li.append(link, " ", state);
  if (plane) li.dataset.livePlane = plane;
  strip.prepend(li);
  let waits = 0;
  const poll = async () => {
    try {
      const scan = await getJSON(apiUrl(root, scanId));
      const a = scan.analysis || {};
      li.dataset.status = a.status || "";
      if (a.status === "done") {
        const planes = (a.planes || []).join(", ") || "no plane";
        const score = a.score === null || a.score === undefined ? "no score" : `${a.score} (${a.grade})`;
        state.textContent = `${auto ? "auto-captured · " : ""}${planes} · ${score}`;
        li.dataset.score = a.score ?? "";
        return;
      }
      if (a.status === "failed") { state.textContent = "assessment failed"; return; }
      state.textContent = `${auto ? "auto-captured · " : ""}${a.status || "queued"}`;
    } catch (err) {
      state.textContent = err.message;
      return;
    }
    if (++waits < 150) setTimeout(poll, 2000);
  };
  poll();
}
