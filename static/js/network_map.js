// The admin's LV network map: transformers, ICPs coloured by feeder and the LV main's segments,
// on plain longitude/latitude axes (no map tiles from the internet). Equal aspect: a degree
// of latitude is drawn 1/cos(latitude) times a degree of longitude, as on the ground.
(function () {
  const source = document.getElementById("network-map-data");
  const el = document.getElementById("network-map");
  if (!source || !el || !window.Plotly) return;
  const data = JSON.parse(source.textContent || "{}");
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
  // Plotly reads a few tags in hover text; addresses and names are shown as text only.
  const esc = (s) => String(s === null || s === undefined ? "" : s)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

  const feeders = data.feeders || [];
  const colour = {};
  const label = {};
  feeders.forEach((f, i) => { colour[f.id] = PALETTE[i % PALETTE.length]; label[f.id] = f.name; });
  const traces = [];

  for (const f of [...feeders, { id: null, name: "No feeder" }]) {
    const segments = (data.segments || []).filter((s) => s.feeder === f.id);
    if (segments.length) {
      const x = [], y = [], text = [];
      for (const s of segments) {
        const hover = `${esc(f.name)}: ${esc(s.name)}<br>${esc(s.length_m)} m ${esc(s.cable_type)}`;
        x.push(s.from[1], s.to[1], null); y.push(s.from[0], s.to[0], null); text.push(hover, hover, null);
      }
      traces.push({
        type: "scatter", mode: "lines", x, y, text, hoverinfo: "text", legendgroup: String(f.id),
        name: `${f.name} LV main`, line: { color: colour[f.id] || "#555", width: 3 },
      });
    }
    const icps = (data.icps || []).filter((i) => i.feeder === f.id);
    if (icps.length) {
      traces.push({
        type: "scatter", mode: "markers", legendgroup: String(f.id), name: f.name,
        x: icps.map((i) => i.lon), y: icps.map((i) => i.lat),
        text: icps.map((i) => `<b>${esc(i.identifier)}</b><br>${esc(i.address)}<br>${esc(i.assets)}`),
        hoverinfo: "text", marker: { size: 10, color: colour[f.id] || "#555", line: { width: 1, color: "#fff" } },
      });
    }
  }
  const transformers = data.transformers || [];
  traces.push({
    type: "scatter", mode: "markers+text", name: "Transformers",
    x: transformers.map((t) => t.lon), y: transformers.map((t) => t.lat),
    text: transformers.map((t) => esc(t.name)), textposition: "top center",
    hovertext: transformers.map((t) => `<b>${esc(t.name)}</b><br>${esc(t.rating_kva)} kVA`), hoverinfo: "text",
    marker: { size: 22, symbol: "square", color: "#333", line: { width: 2, color: "#ffcc00" } },
  });

  const lats = [...transformers, ...(data.icps || [])].map((p) => p.lat);
  const meanLat = lats.length ? lats.reduce((a, b) => a + b, 0) / lats.length : 0;
  const ratio = 1 / Math.max(Math.cos((meanLat * Math.PI) / 180), 0.1);
  Plotly.newPlot(el, traces, {
    margin: { t: 20, r: 20, b: 50, l: 70 },
    hovermode: "closest",
    legend: { orientation: "h" },
    xaxis: { title: { text: "Longitude (°E)" }, tickformat: ".4f" },
    yaxis: { title: { text: "Latitude (°)" }, tickformat: ".4f", scaleanchor: "x", scaleratio: ratio },
  }, { displayModeBar: true, responsive: true });
})();
