// The Verify button beside a committed trade: asks the server to check the trade's Merkle proof
// against the contract (a view call, no transaction) and shows what it found. Loaded once per
// trade row by the include, so it binds one delegated handler only.
(function () {
  if (window.haporiVerifyBound) return;
  window.haporiVerifyBound = true;
  document.addEventListener("click", async function (event) {
    const button = event.target.closest("button.verify-trade");
    if (!button) return;
    const out = button.parentElement.querySelector(".verify-result");
    button.disabled = true;
    out.textContent = "Checking against the contract…";
    out.className = "verify-result";
    try {
      const response = await fetch(button.dataset.verifyUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error("the server answered " + response.status);
      const result = await response.json();
      out.textContent = result.message;
      out.title = "root " + result.root + (result.tx_hash ? ", tx " + result.tx_hash : "");
      out.classList.add(result.verified ? "ok" : "warn");
    } catch (err) {
      out.textContent = "Could not check just now: " + err.message;
      out.classList.add("warn");
    } finally {
      button.disabled = false;
    }
  });
})();
