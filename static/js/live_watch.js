// The instructor's read-only view of a resident's live session: /ws/live/watch/<id>/.
import { addToStrip, showView } from "./live_view.js";

const root = document.getElementById("watch");
const session = document.getElementById("watch-session");
const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${root.dataset.socket}`;

function connect() {
  const ws = new WebSocket(url);
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "live") {
      session.dataset.state = "live";
      session.textContent = "Live now.";
      showView(message);
    } else if (message.type === "capture") {
      addToStrip(root, message.scan_id, { auto: message.auto });
    } else if (message.type === "session") {
      session.dataset.state = message.state;
      session.textContent = message.state === "started" ? "Live now." : "Her live session ended.";
    }
  };
  ws.onclose = (event) => {
    if (event.code >= 4400) {
      session.textContent = "You cannot watch this session.";
      return;
    }
    setTimeout(connect, 2000);
  };
}
connect();
