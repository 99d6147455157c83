// The Verify button beside a committed trade: checks the trade against the chain itself, from
// this browser, so the member need not take the co-op's word for it. It fetches the trade's
// proof from the co-op (the leaf, its siblings, and which node and contract to ask), decodes the
// leaf so the member can match it to their statement, then calls the contract's verifyTrade
// with eth_call on the chain node directly (ethers, loaded on the first press). Loaded once per
// page by the include, so it binds one delegated handler only.
(function () {
  if (window.haporiVerifyBound) return;
  window.haporiVerifyBound = true;

  // blockchain/merkle.py's leaf layout, and the two contract functions the check reads.
  const LEAF_TYPES = ["uint64", "uint32", "bytes32", "bytes32", "uint64", "uint64", "uint128"];
  const LEDGER_ABI = [
    "function verifyTrade(uint64 periodId, bytes encodedLeaf, uint256 index, bytes32[] proof) view returns (bool)",
    "function currentRoot(uint64 periodId) view returns (bytes32)",
  ];
  const ZERO_ROOT = "0x" + "0".repeat(64);
  const NODE_TIMEOUT_MS = 15000;
  let ethersLoading = null;

  function loadEthers(src) {
    if (window.ethers) return Promise.resolve(window.ethers);
    if (!ethersLoading) {
      ethersLoading = new Promise(function (resolve, reject) {
        const script = document.createElement("script");
        script.src = src;
        script.onload = function () { resolve(window.ethers); };
        script.onerror = function () {
          ethersLoading = null;
          reject(new Error("the page could not load its Ethereum library"));
        };
        document.head.appendChild(script);
      });
    }
    return ethersLoading;
  }

  // An exact decimal of a fixed-point integer (BigInt): no floating point between the chain's
  // integers and the figures the member compares with their statement.
  function fixed(value, decimals) {
    const digits = value.toString().padStart(decimals + 1, "0");
    return digits.slice(0, -decimals) + "." + digits.slice(-decimals);
  }

  function periodName(periodId) {
    const text = periodId.toString();  // yyyymmdd then the trading period, two digits
    return text.slice(0, 4) + "-" + text.slice(4, 6) + "-" + text.slice(6, 8) +
      " TP" + Number(text.slice(8));
  }

  function decodeLeaf(ethers, encoded) {
    const v = ethers.AbiCoder.defaultAbiCoder().decode(LEAF_TYPES, encoded);
    return {
      periodId: v[0], sequence: v[1], buyer: v[2], seller: v[3],
      energyWh: v[4], priceCE4: v[5], valueMicroNzd: v[6],
    };
  }

  function short(hex) {
    return hex.slice(0, 10) + "…" + hex.slice(-6);
  }

  function fact(list, term, text, title) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = term;
    dd.textContent = text;
    if (title) dd.title = title;
    list.append(dt, dd);
    return dd;
  }

  function showLeaf(detail, leaf, proof) {
    const you = function (hash) {
      if (hash === proof.member_hash) return " (you)";
      return hash === proof.pool_hash ? " (the hardship pool: a gift names neither side)" : "";
    };
    fact(detail, "Period", periodName(leaf.periodId) + " (chain period " + leaf.periodId + ")");
    fact(detail, "Trade", "number " + leaf.sequence + " of the period");
    fact(detail, "Energy", fixed(leaf.energyWh, 3) + " kWh");
    fact(detail, "Price", fixed(leaf.priceCE4, 4) + " c/kWh");
    fact(detail, "Value", fixed(leaf.valueMicroNzd, 6) + " NZD (what the buyer paid: energy, network and fee)");
    fact(detail, "Buyer", short(leaf.buyer) + you(leaf.buyer), leaf.buyer);
    fact(detail, "Seller", short(leaf.seller) + you(leaf.seller), leaf.seller);
    fact(detail, "Leaf", "index " + proof.leaf_index + ", " + proof.proof.length + " siblings in the proof");
  }

  function showAsked(detail, proof) {
    fact(detail, "Node asked", proof.rpc_url + " (chain id " + proof.chain_id + ")")
      .classList.add("verify-node");
    fact(detail, "Contract", proof.contract).classList.add("verify-contract");
  }

  // The check itself: [true, message] when the contract accepts the proof, else [false, why].
  async function askChain(ethers, proof, leaf) {
    const request = new ethers.FetchRequest(proof.rpc_url);
    request.timeout = NODE_TIMEOUT_MS;
    const network = ethers.Network.from(proof.chain_id);
    const node = new ethers.JsonRpcProvider(request, network, { staticNetwork: network, batchMaxCount: 1 });
    try {
      let chainId;
      try {
        chainId = Number(await node.send("eth_chainId", []));
      } catch (err) {
        return [false, "Not checked: the chain node at " + proof.rpc_url + " did not answer. " +
          "Try again later, or check the proof with another node (see docs/chain.md)."];
      }
      if (chainId !== proof.chain_id) {
        return [false, "Not checked: the node at " + proof.rpc_url + " is chain " + chainId +
          ", but the co-op's contract is on chain " + proof.chain_id + "."];
      }
      const ledger = new ethers.Contract(proof.contract, LEDGER_ABI, node);
      let accepted;
      try {
        accepted = await ledger.verifyTrade(leaf.periodId, proof.leaf_encoded, proof.leaf_index, proof.proof);
      } catch (err) {
        if (err.code === "BAD_DATA") {
          return [false, "Not verified: there is no CoopLedger contract at " + proof.contract +
            " on the node at " + proof.rpc_url + "."];
        }
        throw err;
      }
      if (accepted) {
        return [true, "This trade is verified on chain: the contract at " + proof.contract +
          " accepts its proof against the root committed for " + periodName(leaf.periodId) + "."];
      }
      const root = await ledger.currentRoot(leaf.periodId);
      if (root === ZERO_ROOT) {
        return [false, "Not verified: root not committed. The contract holds no root for chain " +
          "period " + leaf.periodId + " on the node at " + proof.rpc_url + "."];
      }
      return [false, "Not verified: the contract rejects this trade's proof. It holds root " + root +
        " for chain period " + leaf.periodId + "; the co-op's proof leads to " + proof.root +
        ". Please tell the co-op."];
    } finally {
      node.destroy();
    }
  }

  async function verify(button, out, detail) {
    const response = await fetch(button.dataset.proofUrl, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) {
      return [false, "Could not fetch this trade's proof from the co-op (it answered " +
        response.status + ")."];
    }
    const proof = await response.json();
    if (!proof.leaf_encoded) {
      return [false, "Not on the chain yet: this period's root is not committed, so there is " +
        "nothing to check."];
    }
    if (!proof.contract) {
      return [false, "Not checked: the co-op has no contract on a chain just now."];
    }
    const ethers = await loadEthers(button.dataset.ethersSrc);
    const leaf = decodeLeaf(ethers, proof.leaf_encoded);
    showLeaf(detail, leaf, proof);
    if (!proof.rpc_url) {
      return [false, "Not checked: the co-op publishes no chain node for members' browsers. " +
        "Download the proof and check it with a node of your choosing (see docs/chain.md)."];
    }
    showAsked(detail, proof);
    detail.hidden = false;
    out.textContent = "Asking the chain node at " + proof.rpc_url + "…";
    return askChain(ethers, proof, leaf);
  }

  document.addEventListener("click", async function (event) {
    const button = event.target.closest("button.verify-trade");
    if (!button) return;
    const status = button.closest(".chain-status");
    const out = status.querySelector(".verify-result");
    const detail = status.querySelector(".verify-detail");
    button.disabled = true;
    detail.replaceChildren();
    detail.hidden = true;
    out.textContent = "Fetching the proof…";
    out.className = "verify-result";
    try {
      const [verified, message] = await verify(button, out, detail);
      out.textContent = message;
      out.classList.add(verified ? "ok" : "warn");
      detail.hidden = !detail.childElementCount;
    } catch (err) {
      out.textContent = "Could not check just now: " + err.message;
      out.classList.add("warn");
    } finally {
      button.disabled = false;
    }
  });
})();
