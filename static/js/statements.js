// Month by month: what energy cost through the co-op against the retailer alone.
(function () {
  const el = document.getElementById("savings");
  if (!el || !window.Plotly) return;
  const months = el.dataset.months.split(",");
  const cost = (csv) => csv.split(",").map((v) => -Number(v));
  Plotly.newPlot(el, [
    { x: months, y: cost(el.dataset.net), name: "With the co-op", type: "bar", marker: { color: "#0f7a5a" } },
    { x: months, y: cost(el.dataset.alone), name: "Retailer alone", type: "bar", marker: { color: "#b9c4be" } },
  ], { barmode: "group", margin: { t: 10, r: 10, b: 40, l: 50 }, yaxis: { title: { text: "Energy cost, NZD excl. GST" } },
       legend: { orientation: "h" } }, { displayModeBar: false, responsive: true });
})();
