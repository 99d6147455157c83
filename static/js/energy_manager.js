// "My battery and EV": each ICP's latest plan. Left axis in kWh: the battery's state of
// charge (a line at the half-hour edges) and, per half hour, charging (up), discharging
// (down) and EV charging as bars; right axis: the buy and sell prices (c/kWh excluding GST)
// as steps over each half hour. Every x value is an NZ local clock time without an offset
// ("2026-07-13 18:00"), so the axis reads NZ time whatever the browser's zone.
(function () {
  const source = document.getElementById("energy-plans-data");
  if (!source || !window.Plotly) return;
  const plans = JSON.parse(source.textContent || "[]");
  const num = (values) => (values || []).map((v) => (v === null || v === undefined ? null : Number(v)));
  const hover = (unit) => "%{x|%a %H:%M} NZ<br>%{y:.2f} " + unit;

  for (const p of plans) {
    const el = document.getElementById("plan-chart-" + p.id);
    if (!el || !(p.x || []).length) continue;
    const bar = (y, name, color) => ({
      x: p.x_mid, y: num(y), name, type: "bar", marker: { color },
      hovertemplate: hover("kWh") + "<extra>" + name + "</extra>",
    });
    // A price holds for its whole half hour: the step is drawn on to the last period's end.
    const steps = (y) => (y && y.length ? [...num(y), Number(y[y.length - 1])] : []);
    const price = (y, name, color, dash) => ({
      x: p.x_edges, y: steps(y), name, yaxis: "y2", mode: "lines",
      line: { shape: "hv", color, width: 2, dash },
      hovertemplate: hover("c/kWh") + "<extra>" + name + "</extra>",
    });
    const traces = [
      bar(p.charge_kwh, "Battery charging (kWh)", "#0f7a5a"),
      bar(p.discharge_kwh, "Battery discharging (kWh)", "#e0a100"),
      bar(p.ev_kwh, "EV charging (kWh)", "#7a4fb5"),
      {
        x: p.x_edges, y: num(p.soc_kwh), name: "Battery charge (kWh)", mode: "lines",
        line: { color: "#1d2521", width: 3 },
        hovertemplate: hover("kWh stored") + "<extra>state of charge</extra>",
      },
      price(p.buy_c, "Buy price (c/kWh)", "#b5441b", "solid"),
      price(p.sell_c, "Sell price (c/kWh)", "#2563a8", "dot"),
    ];
    Plotly.newPlot(el, traces, {
      barmode: "relative",
      margin: { t: 20, r: 60, b: 50, l: 55 },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
      xaxis: { type: "date", title: { text: "NZ time" }, tickformat: "%a %H:%M" },
      yaxis: { title: { text: "kWh" }, zeroline: true },
      yaxis2: { title: { text: "c/kWh (excl. GST)" }, overlaying: "y", side: "right", showgrid: false },
    }, { displayModeBar: false, responsive: true });
  }
})();
