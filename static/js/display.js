// Live wall display: one websocket, reconnecting with backoff; anything older than
// STALE_AFTER is marked stale rather than shown as current.
(function () {
  const STALE_AFTER_MS = 12 * 60 * 1000;
  const NODES = ["PEN0331", "OTA2201", "HAY2201", "BEN2201"];
  const state = { latest: {}, history: {}, lastMessage: 0, retry: 0 };
  const $ = (id) => document.getElementById(id);
  const dark = { paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: "#cfdad4", size: 16 },
                 margin: { t: 10, r: 10, b: 40, l: 60 }, legend: { orientation: "h" },
                 xaxis: { gridcolor: "#26322e" }, yaxis: { gridcolor: "#26322e", zerolinecolor: "#3a4843" } };

  function setFeed(text, kind) { const el = $("feed"); el.textContent = text; el.dataset.state = kind; }

  function renderPrices() {
    $("prices").innerHTML = NODES.map((node) => {
      const p = state.latest[node];
      const stale = !p || Date.now() - Date.parse(p.at) > 90 * 60 * 1000;
      return `<div class="price${stale ? " stale" : ""}" data-node="${node}"><div class="node">${node}</div>` +
             `<div class="value">${p ? "$" + Number(p.price).toFixed(2) : "—"}</div></div>`;
    }).join("");
  }

  function renderHistory() {
    const traces = NODES.map((node) => ({
      x: (state.history[node] || []).map((r) => r[0]), y: (state.history[node] || []).map((r) => Number(r[1])),
      name: node, mode: "lines", line: { width: node === "PEN0331" ? 4 : 2 } }));
    Plotly.react($("history"), traces, dark, { displayModeBar: false, responsive: true });
  }

  // "Network now": each feeder's forecast transformer loading (a bar) and its price now.
  // Built with textContent: feeder names are typed in the admin, never markup.
  function renderFeeders(feeders) {
    const list = $("feeders");
    if (!list) return;
    const items = (feeders || []).map((f) => {
      const li = document.createElement("li");
      li.className = "feeder";
      li.dataset.feeder = String(f.id);
      li.style.cssText = "padding:.6vh 0;border-bottom:1px solid #1f2a27";
      const head = document.createElement("div");
      head.style.cssText = "display:flex;justify-content:space-between;gap:1vw;font-size:2vh";
      const name = document.createElement("span");
      name.textContent = f.name;
      const figures = document.createElement("span");
      figures.className = "feeder-figures";
      figures.style.fontVariantNumeric = "tabular-nums";
      const loading = f.loading_pct === null || f.loading_pct === undefined ? null : Number(f.loading_pct);
      figures.textContent = (loading === null ? "—" : loading.toFixed(0) + "%") + " · " +
        (f.price_c === null || f.price_c === undefined ? "no price" : Number(f.price_c).toFixed(2) + " c/kWh");
      head.append(name, figures);
      const track = document.createElement("div");
      track.style.cssText = "height:1.2vh;background:#1f2a27;border-radius:999px;overflow:hidden;margin-top:.4vh";
      const bar = document.createElement("div");
      bar.className = "feeder-bar";
      const width = loading === null ? 0 : Math.max(0, Math.min(100, loading));
      bar.style.cssText = "height:100%;width:" + width + "%;background:" +
        (loading >= 100 ? "#d6502f" : loading >= 70 ? "#e0a100" : "#2fa57a");
      track.append(bar);
      li.append(head, track);
      return li;
    });
    if (!items.length) {
      const none = document.createElement("li");
      none.className = "small";
      none.textContent = "No feeders";
      items.push(none);
    }
    list.replaceChildren(...items);
  }

  function renderSnapshot(d) {
    state.latest = d.latest || {}; state.history = d.history || {};
    renderPrices(); renderHistory();
    $("source").textContent = "source: " + ((d.status && d.status.source) || "none");
    const m = d.market || {};
    $("market-price").textContent = m.last_cleared ? `${m.last_cleared.price_c} c/kWh` : "no trades yet";
    $("market-detail").textContent = m.last_cleared ? `${m.last_cleared.period}: ${m.last_cleared.traded_kwh} kWh traded · now ${m.period} (${m.state})` : (m.period || "");
    const power = d.power || {};
    for (const key of ["import", "export", "generation", "consumption"]) $("power-" + key).textContent = power[key + "_kw"] || "—";
    $("power-at").textContent = power.at ? "half hour from " + new Date(power.at).toLocaleTimeString("en-NZ", { hour: "2-digit", minute: "2-digit" }) : "";
    $("trades").innerHTML = (d.trades || []).map((t) => `<li>${t.period} · ${t.kwh} kWh at ${t.price_c} c</li>`).join("") || "<li>No trades yet</li>";
    // One line per feeder: its time-value import price at NZ clock times (sent without an
    // offset, so a kiosk set to UTC still shows NZ time).
    const lines = (d.network || []).map((f) => ({
      x: f.x, y: f.price_c.map(Number), name: f.feeder, type: "scatter", mode: "lines", line: { shape: "hv", width: 3 },
    }));
    Plotly.react($("network"), lines, Object.assign({}, dark, { showlegend: true, legend: { orientation: "h", y: -0.25 } }),
                 { displayModeBar: false, responsive: true });
    renderFeeders(d.feeders);
  }

  function onMessage(msg) {
    state.lastMessage = Date.now();
    setFeed("live", "live");
    if (msg.kind === "snapshot") renderSnapshot(msg.data);
    else if (msg.kind === "prices") {
      Object.assign(state.latest, msg.data.latest || {});
      for (const [node, p] of Object.entries(msg.data.latest || {})) {
        const series = state.history[node] = state.history[node] || [];
        if (!series.length || series[series.length - 1][0] !== p.at) series.push([p.at, p.price]);
      }
      renderPrices(); renderHistory();
      $("source").textContent = "source: " + ((msg.data.status && msg.data.status.source) || "none");
      document.body.dataset.lastPush = String(Date.now());
    } else if (msg.kind === "snapshot-refresh") renderSnapshot(msg.data);
    else if (msg.kind === "commit") {
      const item = document.createElement("li");
      item.className = "commit";
      item.textContent = `⛓ ${msg.data.period}: ${msg.data.trades} trades committed in block ${msg.data.block}`;
      $("trades").prepend(item);
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + document.body.dataset.ws);
    ws.onopen = () => { state.retry = 0; setFeed("connected", "live"); };
    ws.onmessage = (e) => onMessage(JSON.parse(e.data));
    ws.onclose = () => {
      setFeed("reconnecting…", "down");
      state.retry = Math.min(state.retry + 1, 6);
      setTimeout(connect, 500 * 2 ** state.retry);
    };
  }

  setInterval(() => {
    $("clock").textContent = new Date().toLocaleTimeString("en-NZ", { hour: "2-digit", minute: "2-digit" });
    if (state.lastMessage && Date.now() - state.lastMessage > STALE_AFTER_MS) setFeed("stale: no update for " +
      Math.round((Date.now() - state.lastMessage) / 60000) + " min", "stale");
  }, 1000);
  connect();
})();
