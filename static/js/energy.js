// Import, export, generation and consumption over the chosen range. Each row's `x` is NZ
// local clock time without an offset ("2026-12-01 13:30", or the NZ date of a day or month),
// and the axis range is given the same way, so the chart reads NZ time whatever the browser's
// zone (as network.js does). A day or a week is drawn by half hour as lines; a month by day
// and a year by month as bars.
(function () {
  const el = document.getElementById("energy-chart");
  if (!el || !window.Plotly) return;
  const rows = JSON.parse(el.dataset.series || "[]");
  const chart = JSON.parse(el.dataset.chart || "{}");
  const x = rows.map((r) => r.x);
  const HOUR = 3600 * 1000;
  const DAY = 24 * HOUR;
  const steps = {
    half_hour: { bars: false, hover: "%{x|%a %-d %b %H:%M} NZ", title: "NZ time" },
    day: { bars: true, period: DAY, width: 0.2 * DAY, hover: "%{x|%a %-d %b %Y} NZ", title: "Day (NZ time)", tickformat: "%-d %b", dtick: 7 * DAY },
    month: { bars: true, period: "M1", width: 6 * DAY, hover: "%{x|%B %Y} NZ", title: "Month (NZ time)", tickformat: "%b %Y", dtick: "M1" },
  };
  const step = steps[chart.step] || steps.half_hour;
  const xaxis = { type: "date", title: { text: step.title }, range: [chart.from, chart.to], tick0: chart.from };
  if (chart.span === "day") Object.assign(xaxis, { tickformat: "%H:%M", dtick: 2 * HOUR });
  else if (chart.span === "week") Object.assign(xaxis, { tickformat: "%a %-d %b", dtick: DAY });
  else Object.assign(xaxis, { tickformat: step.tickformat, dtick: step.dtick });

  const trace = (key, name, color, n) => {
    const t = { x, y: rows.map((r) => Number(r[key])), name, hovertemplate: step.hover + "<br>%{y:.3f} kWh<extra>" + name + "</extra>" };
    // An explicit width and offsets side by side (four bars about the period's middle):
    // Plotly draws a lone bar on a date axis 1 ms wide, and does not group bars of a width.
    if (step.bars) {
      return Object.assign(t, { type: "bar", marker: { color }, xperiod: step.period, xperiodalignment: "middle",
        width: step.width, offset: (n - 2) * step.width });
    }
    return Object.assign(t, { type: "scatter", mode: "lines", line: { color, width: 2 } });
  };
  Plotly.newPlot(el, [
    trace("consumption", "Used", "#1d2521", 0), trace("generation", "Solar", "#e0a100", 1),
    trace("import", "Imported", "#2563a8", 2), trace("export", "Exported", "#0f7a5a", 3),
  ], {
    margin: { t: 40, r: 10, b: 50, l: 50 }, barmode: "overlay", xaxis,
    yaxis: { title: { text: "kWh" }, rangemode: "tozero" }, legend: { orientation: "h", x: 0, y: 1.12 },
  }, { displayModeBar: false, responsive: true });
})();
