// The order form's full price: for the chosen period, ICP, side and limit, the network charge
// (or export credit), the co-op fee and the all-in price per kWh, excluding and including GST.
// The parts come from trading.price_selectors through json_script (#trade-prices); this only
// adds them up, as the server does for the page's first render.
(function () {
  "use strict";
  var data = document.getElementById("trade-prices");
  var form = document.getElementById("order-form");
  var box = document.getElementById("order-price");
  if (!data || !form || !box) { return; }
  var prices = JSON.parse(data.textContent);
  var GST = 1.15;

  function field(name) { return form.elements.namedItem(name); }
  function part(name) { return box.querySelector('[data-part="' + name + '"]'); }
  function say(name, text) { var el = part(name); if (el) { el.textContent = text; } }
  function two(x) { return (Math.round(x * 100 + (x >= 0 ? 1e-9 : -1e-9)) / 100).toFixed(2); }
  function span(low, high) { return two(low) === two(high) ? two(low) : two(low) + "-" + two(high); }

  function chosenIcp(forPeriod) {
    var icp = field("icp");
    if (icp && icp.value) { return icp.value; }
    var ids = Object.keys(forPeriod || {});
    return ids.length === 1 ? ids[0] : "";
  }

  function allIn(low, high) {
    var el = part("all-in");
    el.textContent = "";
    var strong = document.createElement("strong");
    strong.textContent = span(low, high) + " c/kWh excl. GST";
    el.appendChild(strong);
    el.appendChild(document.createTextNode(" (" + span(low * GST, high * GST) + " c/kWh incl. GST)"));
  }

  function update() {
    var period = field("period");
    var forPeriod = period ? prices.periods[period.value] : null;
    var p = forPeriod ? forPeriod[chosenIcp(forPeriod)] : null;
    var sell = field("side") && field("side").value === "sell";
    var limitText = field("limit_price_c") ? field("limit_price_c").value.trim() : "";
    var limit = limitText === "" ? NaN : Number(limitText);
    say("charge-label", sell ? "Export credit from the network" : "Network charge");
    say("all-in-label", sell ? "You would receive at least" : "You would pay at most");
    if (!p) {
      say("charge", "choose a period and ICP");
      say("limit", isNaN(limit) ? "enter a limit" : two(limit) + " c");
      part("all-in").textContent = "—";
      say("note", "");
      return;
    }
    var fee = Number(p.coop_fee_c);
    var credit = Number(p.export_credit_c);
    if (sell) {
      say("charge", p.time_value ? two(credit) + " c from your feeder"
        : "none (no export credit under this mechanism)");
      say("fee", "none for a seller (" + two(fee) + " c paid by the buyer)");
    } else {
      say("charge", p.network_words);
      say("fee", two(fee) + " c");
    }
    say("note", p.time_value && !p.firm
      ? "Your feeder's network price is the distributor's forecast until gate closure." : "");
    var floor = Number(p.floor_c), cap = Number(p.cap_c);
    if (isNaN(limit)) {
      say("limit", "enter a limit");
      part("all-in").textContent = "—";
      return;
    }
    var outside = limit < floor || limit > cap;
    say("limit", two(limit) + " c" + (outside
      ? " (outside the floor and cap: the order would be refused)" : ""));
    if (sell) {
      allIn(limit + credit, limit + credit);
    } else {
      allIn(limit + Number(p.network_near_c) + fee,
        limit + Number(p.network_far_c) + fee);
    }
  }

  ["period", "icp", "side", "limit_price_c"].forEach(function (name) {
    var el = field(name);
    if (el) {
      el.addEventListener("change", update);
      el.addEventListener("input", update);
    }
  });
  update();
})();
