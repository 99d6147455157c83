// Live wall display: one websocket, reconnecting with backoff; anything older than
// STALE_AFTER is marked stale rather than shown as current. Every time on the wall is NZ time,
// whatever zone the kiosk is set to, and every price is in c/kWh to one decimal.
(function () {
  const STALE_AFTER_MS = 12 * 60 * 1000;
  const NODES = ["PEN0331", "OTA2201", "HAY2201", "BEN2201"];
  const NOT_LIVE = { synthetic: "Synthetic prices — no live feed", replay: "Replayed prices — no live feed" };
  const state = { latest: {}, history: {}, status: {}, lastMessage: 0, retry: 0 };
  const $ = (id) => document.getElementById(id);
  const dark = { paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: "#cfdad4", size: 14 },
                 margin: { t: 6, r: 10, b: 48, l: 48 }, legend: { orientation: "h" }, autosize: true,
                 xaxis: { gridcolor: "#26322e", title: { text: "NZ time", standoff: 4 }, tickformat: "%H:%M" },
                 yaxis: { gridcolor: "#26322e", zerolinecolor: "#3a4843" } };
  const config = { displayModeBar: false, responsive: true };

  // NZ clock and calendar parts of an instant, from Intl (never the kiosk's own zone).
  const nzParts = new Intl.DateTimeFormat("en-NZ", {
    timeZone: "Pacific/Auckland", hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", weekday: "short" });
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function nz(instant) {
    const p = {};
    for (const part of nzParts.formatToParts(instant)) p[part.type] = part.value;
    return { year: p.year, month: Number(p.month), day: Number(p.day), hour: Number(p.hour) % 24,
             minute: p.minute, weekday: p.weekday };
  }
  const clock = (t) => `${t.hour % 12 || 12}:${t.minute} ${t.hour < 12 ? "am" : "pm"}`;
  const dayLabel = (t) => `${t.weekday} ${t.day} ${MONTHS[t.month - 1]}`;
  // A chart's x value: the NZ clock time without an offset, as the server sends it.
  const chartTime = (instant) => { const t = nz(instant);
    return `${t.year}-${String(t.month).padStart(2, "0")}-${String(t.day).padStart(2, "0")} ${String(t.hour).padStart(2, "0")}:${t.minute}`; };

  const cents = (c) => (c === null || c === undefined || c === "" ? "—" : Number(c).toFixed(1) + " c/kWh");
  const centsOfMwh = (dollars) => Number(dollars) / 10;  // $/MWh -> c/kWh
  const kwh = (x) => Number(x).toFixed(2) + " kWh";

  function setFeed(text, kind) { const el = $("feed"); el.textContent = text; el.dataset.state = kind; }

  function renderPrices() {
    const panel = $("prices");
    panel.replaceChildren(...NODES.map((node) => {
      const p = state.latest[node];
      const stale = !p || Date.now() - Date.parse(p.at) > 90 * 60 * 1000;
      const box = document.createElement("div");
      box.className = "price" + (stale ? " stale" : "");
      box.dataset.node = node;
      const name = document.createElement("div"); name.className = "node"; name.textContent = node;
      const value = document.createElement("div"); value.className = "value";
      value.textContent = p ? centsOfMwh(p.price).toFixed(1) : "—";
      if (p) { const unit = document.createElement("span"); unit.className = "unit"; unit.textContent = "c/kWh"; value.append(unit); }
      const at = document.createElement("div"); at.className = "at";
      at.textContent = p && p.at ? clock(nz(new Date(p.at))) : "";
      box.append(name, value, at);
      return box;
    }));
    // Where the prices came from: the shown price's own source, else the last poll's.
    const shown = state.latest.PEN0331 || Object.values(state.latest)[0] || {};
    const source = shown.source || state.status.source || "none";
    $("source").textContent = "source: " + source;
    const warning = $("price-warning");
    warning.textContent = NOT_LIVE[source] || "";
    warning.hidden = !NOT_LIVE[source];
  }

  function renderHistory() {
    const traces = NODES.map((node) => ({
      x: (state.history[node] || []).map((r) => r[0]), y: (state.history[node] || []).map((r) => centsOfMwh(r[1])),
      name: node, mode: "lines", line: { width: node === "PEN0331" ? 4 : 2 } }));
    const layout = Object.assign({}, dark, { showlegend: true, legend: { orientation: "h", y: 1.02, yanchor: "bottom", x: 0 },
                                              margin: { t: 24, r: 10, b: 48, l: 48 } });
    Plotly.react($("history"), traces, layout, config);
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
      const head = document.createElement("div");
      head.className = "feeder-head";
      const name = document.createElement("span");
      name.textContent = f.name;
      const figures = document.createElement("span");
      figures.className = "feeder-figures";
      const loading = f.loading_pct === null || f.loading_pct === undefined ? null : Number(f.loading_pct);
      figures.textContent = (loading === null ? "—" : loading.toFixed(0) + "%") + " · " +
        (f.price_c === null || f.price_c === undefined ? "no price" : cents(f.price_c));
      head.append(name, figures);
      const track = document.createElement("div");
      track.className = "feeder-track";
      const bar = document.createElement("div");
      bar.className = "feeder-bar" + (loading >= 100 ? " over" : loading >= 70 ? " high" : "");
      bar.style.width = (loading === null ? 0 : Math.max(0, Math.min(100, loading))) + "%";
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

  function renderPower(power) {
    const has = Boolean(power && power.at);
    $("power-waiting").hidden = has;
    $("power-figures").hidden = !has;
    if (!has) return;
    for (const key of ["import", "export", "generation", "consumption"]) $("power-" + key).textContent = power[key + "_kw"];
    $("power-at").textContent = (power.label || "") + " (meters; solar estimated)";
  }

  function renderTrades(trades) {
    const items = (trades || []).map((t) => {
      const li = document.createElement("li");
      li.textContent = `${t.period} · ${kwh(t.kwh)} at ${cents(t.price_c)}`;
      return li;
    });
    if (!items.length) { const li = document.createElement("li"); li.textContent = "No trades yet"; items.push(li); }
    $("trades").replaceChildren(...items);
  }

  // The co-op's last cleared period: from the snapshot, or pushed the instant a period clears.
  // A period that matched nothing keeps the last price on the wall and says so underneath.
  function renderCleared(c) {
    if (!c) { $("market-price").textContent = "no trades yet"; $("market-detail").textContent = ""; return; }
    if (c.price_c === null) { $("market-detail").textContent = `${c.period}: no trades matched`; return; }
    $("market-price").textContent = cents(c.price_c);
    $("market-detail").textContent = `${c.period}: ${kwh(c.traded_kwh)} traded`;
    document.body.dataset.clearedPeriod = String(c.period_id);
  }

  function renderSnapshot(d) {
    state.latest = d.latest || {}; state.history = d.history || {}; state.status = d.status || {};
    renderPrices(); renderHistory();
    const m = d.market || {};
    renderCleared(m.last_cleared);
    $("market-now").textContent = m.period ? `Now: ${m.period}` + (m.state && m.state !== "—" ? ` (${m.state})` : "") : "";
    renderPower(d.power);
    renderTrades(d.trades);
    // One line per feeder: its time-value import price at NZ clock times (sent without an
    // offset, so a kiosk set to UTC still shows NZ time).
    const lines = (d.network || []).map((f) => ({
      x: f.x, y: f.price_c.map(Number), name: f.feeder, type: "scatter", mode: "lines", line: { shape: "hv", width: 3 },
    }));
    const layout = Object.assign({}, dark, { showlegend: true,
      legend: { orientation: "h", y: 1.02, yanchor: "bottom", x: 0 }, margin: { t: 24, r: 10, b: 48, l: 48 } });
    if (!lines.length) {  // nothing published yet: say so rather than draw an empty clock
      Object.assign(layout, { xaxis: Object.assign({}, dark.xaxis, { visible: false }), yaxis: { visible: false },
        annotations: [{ text: "No network prices published yet", showarrow: false, xref: "paper", yref: "paper",
                        x: 0.5, y: 0.5, font: { size: 16, color: "#8fa39a" } }] });
    }
    Plotly.react($("network"), lines, layout, config);
    renderFeeders(d.feeders);
  }

  function onMessage(msg) {
    state.lastMessage = Date.now();
    setFeed("live", "live");
    if (msg.kind === "snapshot" || msg.kind === "snapshot-refresh") renderSnapshot(msg.data);
    else if (msg.kind === "prices") {
      Object.assign(state.latest, msg.data.latest || {});
      if (msg.data.status) state.status = msg.data.status;
      for (const [node, p] of Object.entries(msg.data.latest || {})) {
        if (!p.at) continue;
        const series = state.history[node] = state.history[node] || [];
        const x = chartTime(new Date(p.at));
        if (!series.length || series[series.length - 1][0] !== x) series.push([x, p.price]);
      }
      renderPrices(); renderHistory();
      document.body.dataset.lastPush = String(Date.now());
    } else if (msg.kind === "cleared") {
      renderCleared(msg.data);
    } else if (msg.kind === "commit") {
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

  function tick() {
    const t = nz(new Date());
    $("clock").textContent = `${dayLabel(t)}, ${clock(t)}`;
    if (state.lastMessage && Date.now() - state.lastMessage > STALE_AFTER_MS) setFeed("stale: no update for " +
      Math.round((Date.now() - state.lastMessage) / 60000) + " min", "stale");
  }
  tick();
  setInterval(tick, 1000);
  connect();
})();
