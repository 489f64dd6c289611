// The training run's page: polls the run (GET /api/training-runs/<id>/) every 2 s and shows
// its step, loss, progress, time left, log tail and learning curve; when the run ends the page
// reloads once to show the evaluation beside the model in force.
(() => {
  const root = document.getElementById("run");
  if (!root) return;
  const curve = document.querySelector("#run-curve polyline");
  const $ = (id) => document.getElementById(id);

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
    draw(run.loss_history);
  }

  draw(JSON.parse(document.getElementById("run-data").textContent));
  const wasFinished = $("run-state").textContent.trim();
  if (["done", "failed", "cancelled"].includes(wasFinished)) return;
  const timer = setInterval(async () => {
    const response = await fetch(root.dataset.url, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const run = await response.json();
    show(run);
    if (run.finished) {
      clearInterval(timer);
      window.location.reload();
    }
  }, 2000);
})();
