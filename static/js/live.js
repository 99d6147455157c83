// A resident's live page: the wholesale price and their own power, pushed over /ws/live/.
(function () {
  const $ = (id) => document.getElementById(id);
  function show(latest, status) {
    const p = (latest || {})["PEN0331"];
    if (p) $("live-price").textContent = "$" + Number(p.price).toFixed(2) + "/MWh (" + (Number(p.price) / 10).toFixed(2) + " c/kWh)";
    if (status) $("live-source").textContent = "source: " + status.source;
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
