// A lab run's progress, polled while it runs; the page reloads once to show the report.
(function () {
  "use strict";
  const box = document.getElementById("run-progress");
  if (!box) return;
  const finished = (state) => state === "done" || state === "failed";
  if (finished(box.dataset.state)) return;
  const labels = { queued: "Queued", running: "Running", done: "Done", failed: "Failed" };
  async function poll() {
    let data;
    try {
      const response = await fetch(box.dataset.url, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(String(response.status));
      data = await response.json();
    } catch (err) {
      document.getElementById("run-stage").textContent = "(progress unavailable, retrying)";
      window.setTimeout(poll, 3000);
      return;
    }
    document.getElementById("run-state").textContent = labels[data.state] || data.state;
    const chunkText = data.chunks ? ` (market chunk ${data.chunks_done} of ${data.chunks})` : "";
    document.getElementById("run-stage").textContent = data.stage + chunkText;
    const percent = data.state === "done" ? 100 : data.percent;
    document.getElementById("run-bar").value = percent;
    document.getElementById("run-percent").textContent = `${percent}%`;
    if (data.error) {
      const error = document.getElementById("run-error");
      error.textContent = data.error;
      error.hidden = false;
    }
    if (finished(data.state)) {
      if (data.state === "done") window.location.reload();
      return;
    }
    window.setTimeout(poll, 1000);
  }
  window.setTimeout(poll, 500);
})();
