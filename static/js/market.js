// Depth chart of the next open period's book: cumulative kWh against limit price.
(function () {
  const el = document.getElementById("depth");
  if (!el || !window.Plotly) return;
  const depth = JSON.parse(el.dataset.depth || "{}");
  const trace = (rows, name, color) => ({
    x: (rows || []).map((r) => Number(r[1])), y: (rows || []).map((r) => Number(r[0])),
    name, mode: "lines", line: { shape: "hv", color, width: 3 },
  });
  Plotly.newPlot(el, [trace(depth.buy, "Bids (buy)", "#2563a8"), trace(depth.sell, "Offers (sell)", "#0f7a5a")], {
    margin: { t: 10, r: 10, b: 40, l: 50 }, xaxis: { title: { text: "Cumulative kWh" } },
    yaxis: { title: { text: "c/kWh" } }, legend: { orientation: "h" },
  }, { displayModeBar: false, responsive: true });
})();
