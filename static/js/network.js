// The market page's network price charts: for each of the member's feeders, the coming 48 h
// of time-value import price and export credit (c/kWh, left axis) and the forecast
// transformer loading (%, right axis). The x values are NZ local clock times without an
// offset ("2026-07-13 18:00"), so the axis reads NZ time whatever the browser's zone.
(function () {
  const source = document.getElementById("network-data");
  if (!source || !window.Plotly) return;
  const feeders = JSON.parse(source.textContent || "[]");
  const num = (values) => (values || []).map((v) => (v === null || v === undefined ? null : Number(v)));

  for (const f of feeders) {
    const el = document.getElementById("network-chart-" + f.id);
    if (!el || !(f.x || []).length) continue;
    const status = (f.firm || []).map((firm) => (firm ? "firm" : "forecast"));
    const traces = [
      {
        x: f.x, y: num(f.price_c), name: "Import price (c/kWh)", mode: "lines",
        line: { shape: "hv", color: "#b5441b", width: 3 }, customdata: status,
        hovertemplate: "%{x|%a %H:%M} NZ<br>%{y:.2f} c/kWh (%{customdata})<extra>import</extra>",
      },
      {
        x: f.x, y: num(f.export_credit_c), name: "Export credit (c/kWh)", mode: "lines",
        line: { shape: "hv", color: "#0f7a5a", width: 2, dash: "dot" }, customdata: status,
        hovertemplate: "%{x|%a %H:%M} NZ<br>%{y:.2f} c/kWh (%{customdata})<extra>export</extra>",
      },
      {
        x: f.x, y: num(f.loading_pct), name: "Transformer loading (%)", yaxis: "y2",
        mode: "lines", line: { shape: "hv", color: "#2563a8", width: 2 },
        fill: "tozeroy", fillcolor: "rgba(37, 99, 168, 0.08)",
        hovertemplate: "%{x|%a %H:%M} NZ<br>%{y:.0f}% loaded<extra>loading</extra>",
      },
    ];
    Plotly.newPlot(el, traces, {
      margin: { t: 40, r: 60, b: 50, l: 55 },
      legend: { orientation: "h", x: 0, y: 1.12 },
      xaxis: { type: "date", title: { text: "NZ time" }, tickformat: "%a %H:%M" },
      yaxis: { title: { text: "c/kWh" }, zeroline: true },
      yaxis2: { title: { text: "Loading (%)" }, overlaying: "y", side: "right", rangemode: "tozero", showgrid: false },
    }, { displayModeBar: false, responsive: true });
  }
})();
