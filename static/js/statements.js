// What energy cost through the co-op against the retailer alone: month by month on the
// statements page (#savings), day by day on a month's statement (#statement-days). Each row's
// `x` is an NZ date without a time or an offset ("2026-12-01"), and the axis range is given
// the same way, so the bars sit on NZ days and months whatever the browser's zone.
(function () {
  if (!window.Plotly) return;
  const DAY = 24 * 3600 * 1000;
  const plural = (n, word) => n + " " + word + (Number(n) === 1 ? "" : "s");

  function draw(el, step) {
    const chart = JSON.parse(el.dataset.chart || "{}");
    const rows = chart.rows || [];
    const x = rows.map((r) => r.x);
    const cost = (key) => rows.map((r) => -Number(r[key]));
    const monthly = step === "month";
    // An explicit width and offsets side by side: Plotly draws a lone bar on a date axis 1 ms
    // wide, and does not group bars of a given width.
    const width = (monthly ? 12 : 0.4) * DAY;
    const bars = {
      type: "bar", x, xperiod: monthly ? "M1" : DAY, xperiodalignment: "middle", width,
      text: rows.map((r) => plural(r.periods, "settled trading period")),
      textposition: "none",
    };
    const hover = (monthly ? "%{x|%B %Y}" : "%{x|%a %-d %b %Y}") + " NZ<br>NZD %{y:.2f}<br>%{text}";
    Plotly.newPlot(el, [
      Object.assign({}, bars, { y: cost("net_nzd"), offset: -width, name: "With the co-op", marker: { color: "#0f7a5a" },
        hovertemplate: hover + "<extra>with the co-op</extra>" }),
      Object.assign({}, bars, { y: cost("retailer_only_nzd"), offset: 0, name: "Retailer alone", marker: { color: "#b9c4be" },
        hovertemplate: hover + "<extra>retailer alone</extra>" }),
    ], {
      barmode: "overlay", margin: { t: 40, r: 10, b: 50, l: 60 },
      xaxis: {
        type: "date", range: [chart.from, chart.to], tick0: chart.from,
        title: { text: monthly ? "Month (NZ time)" : "Day (NZ time)" },
        tickformat: monthly ? "%b %Y" : "%-d %b", dtick: monthly ? "M1" : 7 * DAY,
      },
      yaxis: { title: { text: "Energy cost, NZD excl. GST" } },
      legend: { orientation: "h", x: 0, y: 1.12 },
    }, { displayModeBar: false, responsive: true });
  }

  const months = document.getElementById("savings");
  if (months) draw(months, "month");
  const days = document.getElementById("statement-days");
  if (days) draw(days, "day");
})();
