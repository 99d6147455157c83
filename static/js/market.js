// Depth chart of the next open period's book: the bids and the offers as two step curves of
// limit price against cumulative kWh, each from 0 kWh at its best price (trading/selectors.py
// book_depth), and the point where they cross marked.
(function () {
  const el = document.getElementById("depth");
  if (!el || !window.Plotly) return;
  const depth = JSON.parse(el.dataset.depth || "{}");
  const num = (values) => (values || []).map(Number);
  const curve = (side, name, color) => ({
    x: num((side || {}).kwh), y: num((side || {}).price_c), name, type: "scatter", mode: "lines",
    line: { shape: "hv", color, width: 3 }, showlegend: true,
    hovertemplate: "%{x:.3f} kWh at %{y:.2f} c/kWh<extra>" + name + "</extra>",
  });
  const traces = [curve(depth.buy, "Bids", "#2563a8"), curve(depth.sell, "Offers", "#0f7a5a")];
  if (depth.cross) {
    traces.push({
      x: [Number(depth.cross.kwh)], y: [Number(depth.cross.price_c)], name: "Where they cross",
      type: "scatter", mode: "markers+text", marker: { color: "#b5441b", size: 11, symbol: "x" },
      text: [Number(depth.cross.kwh).toFixed(3) + " kWh at " + Number(depth.cross.price_c).toFixed(2) + " c"],
      textposition: "top right", showlegend: true,
      hovertemplate: "%{x:.3f} kWh at %{y:.2f} c/kWh<extra>where they cross</extra>",
    });
  }
  Plotly.newPlot(el, traces, {
    margin: { t: 40, r: 10, b: 45, l: 55 },
    xaxis: { title: { text: "Cumulative kWh" }, rangemode: "tozero" },
    yaxis: { title: { text: "Limit price, c/kWh" } },
    legend: { orientation: "h", x: 0, y: 1.15 },
  }, { displayModeBar: false, responsive: true });
})();
