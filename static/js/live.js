// The live page: the scanner's video (a capture card or camera through getUserMedia, or a
// shared window through getDisplayMedia), the image area marked once by dragging a rectangle
// (remembered in this browser's localStorage), and only that rectangle, downscaled to the side
// the model reads, sent to /ws/live/ five times a second as PNG. What comes back (plane, confidence,
// quality, key structures; smoothed by the server) is shown as it arrives. Capture (button or
// space bar; automatic when a target plane holds its grade for a second) uploads the
// rectangle at the video's full resolution through the normal upload; "Save the last seconds
// as a clip" uploads the last 4 s of it as a Motion-JPEG AVI (avi.js) the same way.
import { csrfToken } from "./api.js";
import { mjpegAvi } from "./avi.js";
import { addToStrip, showView } from "./live_view.js";

const $ = (id) => document.getElementById(id);
const root = $("live");
const video = $("video");
const overlay = $("overlay");
const status = $("live-status");
const RECT_KEY = "abvlmq.live.rect";
const PERIOD_MS = 200; // 5 frames a second
const MIN_GAP_MS = 170; // 1000 / 170: at most 6 frames begin within any one second
const AUTO_HOLD_MS = 1000;
const AUTO_PAUSE_MS = 5000; // after a capture, auto-capture waits this long
const CLIP_SECONDS = 4; // "Save the last seconds as a clip" keeps this many, in this tab only

let stream = null;
let ws = null;
let ready = null; // the socket's "ready" message: side, max_bytes, assignment
let timer = null;
let rect = loadRect(); // fractions of the video frame: {x, y, w, h}
let marking = null;
let sent = 0;
let lastSent = 0;
let encoding = false;
const sentAt = new Map();
const latencies = [];
let metSince = null;
let lastCapture = 0;
let capturing = false;
const captured = new Set(); // target planes captured in this session
let lastView = null;
let clipTimer = null;
let clipFrames = []; // the last seconds' full-resolution crops: {jpeg, width, height}

function say(text, state) {
  status.textContent = text;
  if (state) status.dataset.state = state;
}

function loadRect() {
  try {
    const r = JSON.parse(localStorage.getItem(RECT_KEY) || "null");
    if (r && [r.x, r.y, r.w, r.h].every((v) => typeof v === "number") && r.w > 0.02 && r.h > 0.02) return r;
  } catch (err) { /* nothing stored, or not ours */ }
  return null;
}

// ------------------------------------------------------------------ the source

async function start() {
  stop();
  try {
    if ($("source").value === "screen") {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } else {
      const device = $("device").value;
      stream = await navigator.mediaDevices.getUserMedia({
        video: device ? { deviceId: { exact: device } } : true, audio: false,
      });
      listDevices();
    }
  } catch (err) {
    say(`No video: ${err.message || err.name}`, "error");
    return;
  }
  video.srcObject = stream;
  await video.play().catch(() => {});
  stream.getVideoTracks().forEach((t) => t.addEventListener("ended", stop));
  $("start").hidden = true;
  $("stop").hidden = false;
  $("mark").disabled = false;
  await new Promise((resolve) => (video.videoWidth ? resolve() : video.addEventListener("loadedmetadata", resolve, { once: true })));
  drawOverlay();
  connect();
  clipTimer = setInterval(keepForClip, PERIOD_MS);
  if (!rect) say("Mark the image area: drag a rectangle over the scanner's image.", "marking");
}

async function listDevices() {
  const select = $("device");
  const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
  const current = select.value;
  select.replaceChildren(...devices.map((d, i) => new Option(d.label || `Camera ${i + 1}`, d.deviceId)));
  if (current) select.value = current;
  $("device-label").hidden = devices.length < 2;
}

function stop() {
  if (timer) clearInterval(timer);
  timer = null;
  if (clipTimer) clearInterval(clipTimer);
  clipTimer = null;
  clipFrames = [];
  if (ws) { ws.onclose = null; ws.close(); }
  ws = null;
  ready = null;
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  video.srcObject = null;
  $("start").hidden = false;
  $("stop").hidden = true;
  $("capture").disabled = true;
  $("save-clip").disabled = true;
  say("Stopped.", "idle");
}

// ------------------------------------------------------------------ the image area

function drawOverlay() {
  const w = video.clientWidth;
  const h = video.clientHeight;
  overlay.width = w;
  overlay.height = h;
  const g = overlay.getContext("2d");
  g.clearRect(0, 0, w, h);
  const r = marking ? marking.rect : rect;
  if (!r) return;
  g.fillStyle = "rgba(0, 0, 0, 0.45)";
  g.fillRect(0, 0, w, h);
  g.clearRect(r.x * w, r.y * h, r.w * w, r.h * h);
  g.strokeStyle = "#f5b301";
  g.lineWidth = 2;
  g.strokeRect(r.x * w, r.y * h, r.w * w, r.h * h);
}

function fraction(event) {
  const box = overlay.getBoundingClientRect();
  return {
    x: Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)),
    y: Math.min(1, Math.max(0, (event.clientY - box.top) / box.height)),
  };
}

overlay.addEventListener("pointerdown", (event) => {
  if (!stream) return;
  overlay.setPointerCapture(event.pointerId);
  const p = fraction(event);
  marking = { from: p, rect: { x: p.x, y: p.y, w: 0, h: 0 } };
});
overlay.addEventListener("pointermove", (event) => {
  if (!marking) return;
  const p = fraction(event);
  const a = marking.from;
  marking.rect = { x: Math.min(a.x, p.x), y: Math.min(a.y, p.y), w: Math.abs(p.x - a.x), h: Math.abs(p.y - a.y) };
  drawOverlay();
});
overlay.addEventListener("pointerup", () => {
  if (!marking) return;
  const r = marking.rect;
  marking = null;
  if (r.w > 0.02 && r.h > 0.02) {
    rect = r;
    clipFrames = []; // a clip has one size
    localStorage.setItem(RECT_KEY, JSON.stringify(r));
    overlay.dataset.rect = JSON.stringify(r);
    say("Image area marked.", "marked");
  }
  drawOverlay();
});
$("mark").addEventListener("click", () => {
  rect = null;
  localStorage.removeItem(RECT_KEY);
  drawOverlay();
  say("Drag a rectangle over the scanner's image.", "marking");
});
window.addEventListener("resize", drawOverlay);

// The rectangle in the video's own pixels.
function sourceBox() {
  const vw = video.videoWidth;
  const vh = video.videoHeight;
  const x = Math.round(rect.x * vw);
  const y = Math.round(rect.y * vh);
  return { x, y, w: Math.max(1, Math.round(rect.w * vw)), h: Math.max(1, Math.round(rect.h * vh)) };
}

// Only the rectangle is drawn, nothing around it: what lies outside never leaves the browser.
function cropCanvas(longSide) {
  const box = sourceBox();
  const scale = longSide ? Math.min(1, longSide / Math.max(box.w, box.h)) : 1;
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(box.w * scale));
  canvas.height = Math.max(1, Math.round(box.h * scale));
  const g = canvas.getContext("2d");
  g.imageSmoothingQuality = "high";
  g.drawImage(video, box.x, box.y, box.w, box.h, 0, 0, canvas.width, canvas.height);
  return canvas;
}

// ------------------------------------------------------------------ the socket

function connect() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${root.dataset.socket}`;
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  say("Connecting…", "connecting");
  ws.onmessage = (event) => receive(JSON.parse(event.data));
  ws.onclose = (event) => {
    ready = null;
    if (timer) clearInterval(timer);
    timer = null;
    if (event.code === 4429) {
      say("Live practice is open in other tabs of yours: close one, then Start again.", "refused");
      return;
    }
    if (event.code === 4503 || event.code === 4401 || event.code === 4403 || event.code === 4404) {
      if (event.code !== 4503) say("Live practice is not open to you here.", "refused");
      return;
    }
    if (stream) { say("Connection lost; reconnecting…", "connecting"); setTimeout(connect, 2000); }
  };
}

function receive(message) {
  if (message.type === "ready") {
    ready = message;
    showTargets();
    $("capture").disabled = false;
    $("save-clip").disabled = false;
    if (rect) say("Live.", "live");
    timer = setInterval(sendFrame, 50);
  } else if (message.type === "live") {
    const t = sentAt.get(message.seq);
    if (t !== undefined) {
      latencies.push(performance.now() - t);
      if (latencies.length > 50) latencies.shift();
      for (const k of sentAt.keys()) if (k <= message.seq) sentAt.delete(k);
    }
    lastView = message;
    showView(message);
    showTargets();
    autoCapture(message);
    showRate();
  } else if (message.type === "dropped") {
    $("live-rate").dataset.dropped = message.reason;
    sentAt.delete(message.seq);
  } else if (message.type === "unavailable") {
    say(message.message, "unavailable");
  }
}

function sendFrame() {
  if (!ws || ws.readyState !== WebSocket.OPEN || !ready || !rect || !video.videoWidth) return;
  if (ws.bufferedAmount > 0) return; // the network is behind: skip this frame, never queue
  // About 5 a second, never 7 within one second (the server drops those as too fast): the
  // loop looks every 50 ms and sends once 170 ms have passed since the last frame began.
  if (encoding || performance.now() - lastSent < MIN_GAP_MS) return;
  encoding = true;
  lastSent = performance.now();
  const canvas = cropCanvas(ready.side);
  canvas.toBlob((blob) => {
    encoding = false;
    if (!blob || !ws || ws.readyState !== WebSocket.OPEN || blob.size > ready.max_bytes) return;
    sent += 1;
    sentAt.set(sent, performance.now());
    ws.send(blob);
  }, "image/png"); // lossless: a JPEG at the model's side looks unlike a scan to the model
}

function showRate() {
  if (!latencies.length) return;
  const sorted = [...latencies].sort((a, b) => a - b);
  const p50 = sorted[Math.floor(sorted.length / 2)];
  $("live-rate").textContent = `frame to meter: ${Math.round(p50)} ms`;
  $("live-rate").dataset.p50 = Math.round(p50);
}

// ------------------------------------------------------------------ targets and capture

function showTargets() {
  const a = ready && ready.assignment;
  if (!a) return;
  $("targets-box").hidden = false;
  const current = lastView && lastView.state === "scanning" ? lastView.plane : null;
  $("targets").replaceChildren(...a.target_planes.map((p) => {
    const li = document.createElement("li");
    li.dataset.plane = p.code;
    const done = captured.has(p.code);
    li.className = done ? "done" : (current === p.code ? "current" : "");
    li.textContent = `${done ? "✓" : current === p.code ? "▸" : "·"} ${p.name} (${p.code})`;
    return li;
  }));
}

// Once per target plane: the checklist ticks it, and Capture takes more by hand.
function autoCapture(view) {
  if (!$("auto-capture").checked || !view.target_met || captured.has(view.plane)) {
    metSince = null;
    return;
  }
  const now = performance.now();
  if (metSince === null) metSince = now;
  if (now - metSince >= AUTO_HOLD_MS && now - lastCapture >= AUTO_PAUSE_MS) {
    metSince = null;
    capture(true);
  }
}

// The rectangle at full resolution, five times a second, for the last CLIP_SECONDS only.
function keepForClip() {
  if (!rect || !video.videoWidth || !stream) return;
  const canvas = cropCanvas(0);
  canvas.toBlob(async (blob) => {
    if (!blob) return;
    const frame = { jpeg: new Uint8Array(await blob.arrayBuffer()), width: canvas.width, height: canvas.height };
    clipFrames.push(frame);
    clipFrames = clipFrames.filter((f) => f.width === frame.width && f.height === frame.height);
    while (clipFrames.length > CLIP_SECONDS * 5) clipFrames.shift();
  }, "image/jpeg", 0.92);
}

async function saveClip() {
  const frames = clipFrames.slice();
  if (frames.length < 5) { say("Not enough video yet: scan a second longer.", "live"); return; }
  const { width, height } = frames[frames.length - 1];
  const blob = mjpegAvi(frames.map((f) => f.jpeg), width, height, 5);
  await capture(false, { blob, name: `live-clip-${stamp()}.avi`, clip: true });
}

const stamp = () => new Date().toISOString().replace(/[:.]/g, "-");

async function capture(auto = false, given = null) {
  if (capturing || !stream || !rect || !video.videoWidth) return;
  capturing = true;
  lastCapture = performance.now();
  const plane = lastView && lastView.state === "scanning" ? lastView.plane : "";
  say(given ? "Saving the clip…" : auto ? "Auto-capturing…" : "Capturing…");
  try {
    const blob = given ? given.blob : await new Promise((resolve) => cropCanvas(0).toBlob(resolve, "image/png"));
    const body = new FormData();
    body.append("file", blob, given ? given.name : `live-${stamp()}.png`);
    if (root.dataset.assignment) body.append("assignment", root.dataset.assignment);
    const response = await fetch(root.dataset.uploadUrl, {
      method: "POST", body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      say(`Not captured: ${data.detail || `HTTP ${response.status}`}`, "live");
      return;
    }
    if (plane && !given) captured.add(plane);
    addToStrip(root, data.id, { auto, plane, clip: Boolean(given) });
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "captured", scan_id: data.id, auto }));
    const what = given ? "Saved the clip as" : auto ? "Auto-captured" : "Captured";
    say(`${what} scan #${data.id}: the full model is assessing it.`, "live");
    showTargets();
  } catch (err) {
    say(`Not captured: ${err.message}`, "live");
  } finally {
    capturing = false;
  }
}

$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
$("capture").addEventListener("click", () => capture(false));
$("save-clip").addEventListener("click", saveClip);
// The space bar captures (a foot pedal that types a key works), unless a control has focus.
document.addEventListener("keydown", (event) => {
  if (event.key !== " " || event.repeat) return;
  const tag = (event.target.tagName || "").toLowerCase();
  if (["input", "select", "textarea", "button", "a"].includes(tag)) return;
  event.preventDefault();
  capture(false);
});
