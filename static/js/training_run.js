// The training run's page: its step, loss, progress, time left, log tail and learning curve,
// live. The run's websocket (/ws/training-runs/<id>/) sends the run as it stands, then each
// change the training worker pushes (every second while it trains); where the socket does not
// open, or drops, the page polls GET /api/training-runs/<id>/ every 2 s instead. When the run
// ends the page reloads once to show the evaluation beside the model in force.
// root.dataset.live says which it uses: "socket" or "polling".
(() => {
  const root = document.getElementById("run");
  if (!root) return;
  const curve = document.querySelector("#run-curve polyline");
  const $ = (id) => document.getElementById(id);
  const FINISHED = ["done", "failed", "cancelled"];
  let timer = null, ended = false;

  function draw(history) {
    if (!history.length) return;
    const steps = history.map((p) => p[0]);
    const losses = history.map((p) => p[1]);
    const x0 = Math.min(...steps), x1 = Math.max(...steps, x0 + 1);
    const y0 = Math.min(...losses), y1 = Math.max(...losses, y0 + 1e-6);
    curve.setAttribute(
      "points",
      history
        .map(([s, l]) => `${(10 + (580 * (s - x0)) / (x1 - x0)).toFixed(1)},${(190 - (180 * (l - y0)) / (y1 - y0)).toFixed(1)}`)
        .join(" "),
    );
    curve.dataset.points = String(history.length);
    const [first, last] = [history[0], history[history.length - 1]];
    $("run-curve-caption").textContent = "Training loss by step (the learning curve): "
      + `${first[1].toFixed(4)} at step ${first[0]}, ${last[1].toFixed(4)} at step ${last[0]}.`;
  }

  function show(run) {
    $("run-state").textContent = run.state;
    $("run-step").textContent = run.step;
    if ($("run-total") && run.total_steps) $("run-total").textContent = run.total_steps;
    $("run-loss").textContent = run.loss === null ? "–" : run.loss.toFixed(4);
    $("run-progress").textContent = Math.round(100 * run.progress);
    $("run-bar").value = run.progress;
    $("run-left").textContent = run.seconds_left === null ? "–" : `${Math.round(run.seconds_left)} s`;
    $("run-log").textContent = run.log_tail;
    if (run.failure_reason) {
      $("run-failure").textContent = run.failure_reason;
      $("run-failure").hidden = false;
    }
    if (run.state === "cancelling" && $("cancel")) $("cancel").disabled = true;
    draw(run.loss_history);
    if (run.finished && !ended) {
      ended = true;
      if (timer) clearInterval(timer);
      window.location.reload();
    }
  }

  function poll() {
    if (timer || ended) return;
    root.dataset.live = "polling";
    timer = setInterval(async () => {
      const response = await fetch(root.dataset.url, { headers: { Accept: "application/json" } });
      if (response.ok) show(await response.json());
    }, 2000);
  }

  function listen() {
    if (!window.WebSocket) return poll();
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let ws;
    try { ws = new WebSocket(`${scheme}://${location.host}/ws/training-runs/${root.dataset.run}/`); } catch (e) { return poll(); }
    ws.onopen = () => { root.dataset.live = "socket"; };
    ws.onmessage = (m) => {
      let run;
      try { run = JSON.parse(m.data); } catch (e) { return; }
      if (run.type === "run") show(run);
    };
    ws.onclose = () => { if (!ended) poll(); };  // refused, dropped, the server gone: poll
  }

  draw(JSON.parse(document.getElementById("run-data").textContent));
  if (FINISHED.includes($("run-state").textContent.trim())) return;
  listen();
})();
