// Import, export, generation and consumption over the chosen range.
(function () {
  const el = document.getElementById("energy-chart");
  if (!el || !window.Plotly) return;
  const rows = JSON.parse(el.dataset.series || "[]");
  const x = rows.map((r) => r.start);
  const line = (key, name, color) => ({ x, y: rows.map((r) => Number(r[key])), name, type: "scatter", mode: "lines", line: { color, width: 2 } });
  Plotly.newPlot(el, [
    line("consumption", "Used", "#1d2521"), line("generation", "Solar", "#e0a100"),
    line("import", "Imported", "#2563a8"), line("export", "Exported", "#0f7a5a"),
  ], { margin: { t: 10, r: 10, b: 40, l: 50 }, yaxis: { title: { text: "kWh" } }, legend: { orientation: "h" } },
  { displayModeBar: false, responsive: true });
})();
