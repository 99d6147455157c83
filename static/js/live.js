// A resident's live page: the wholesale price and their own power, pushed over /ws/live/.
// The page arrives with the latest stored price; pushes replace it. Times are NZ time.
(function () {
  const $ = (id) => document.getElementById(id);
  const NOT_LIVE = { synthetic: "Synthetic prices — no live feed", replay: "Replayed prices — no live feed" };
  const nzTime = new Intl.DateTimeFormat("en-NZ", { timeZone: "Pacific/Auckland", hourCycle: "h23", hour: "2-digit",
    minute: "2-digit", weekday: "short", day: "numeric", month: "short" });
  function when(iso) {
    const p = {};
    for (const part of nzTime.formatToParts(new Date(iso))) p[part.type] = part.value;
    const hour = Number(p.hour) % 24;
    return `${hour % 12 || 12}:${p.minute} ${hour < 12 ? "am" : "pm"} ${p.weekday} ${p.day} ${p.month} (NZ time)`;
  }
  function show(latest, status) {
    const p = (latest || {})["PEN0331"];
    if (!p) return;  // keep what the page (or an earlier push) shows
    $("live-price").textContent = "$" + Number(p.price).toFixed(2) + "/MWh (" + (Number(p.price) / 10).toFixed(2) + " c/kWh)";
    // The price's own source first: the poll's status says "none" until its first run.
    const source = p.source || (status && status.source) || "none";
    $("live-source").textContent = (p.at ? "at " + when(p.at) + " · " : "") + "source: " + source +
      (NOT_LIVE[source] ? " (" + NOT_LIVE[source] + ")" : "");
  }
  function connect(retry) {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/live/");
    ws.onopen = () => { $("live-feed").textContent = "live"; retry = 0; };
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.kind === "prices") show(msg.data.latest, msg.data.status);
      if (msg.kind === "power") $("live-power").textContent = msg.data.import_kw + " kW in · " + msg.data.export_kw + " kW out";
    };
    ws.onclose = () => { $("live-feed").textContent = "reconnecting…"; setTimeout(() => connect(Math.min(retry + 1, 6)), 500 * 2 ** retry); };
  }
  connect(0);
})();
