// Check Hapori trade proofs against the chain itself, without the co-op's server: only the proof
// file and a chain node. Reads one trade's proof (/chain/api/trades/<id>/proof/) or a month's
// file of them (/chain/api/proofs/<YYYY-MM>/), decodes each leaf so it can be matched with the
// statement, and asks the contract's verifyTrade with eth_call on the node given.
//
//   node scripts/verify-trade.mjs proof.json --rpc URL [--contract ADDRESS]
//
// Exit code 0 when every trade is verified on chain, 1 when any is not (or the node cannot be
// asked), 2 for a bad command line or file. See docs/chain.md.
import { readFileSync } from "node:fs";
import { ethers } from "ethers";

// blockchain/merkle.py's leaf layout, field by field, and the contract functions read.
const LEAF_FIELDS = [
  ["period_id", "uint64"],
  ["sequence", "uint32"],
  ["buyer", "bytes32"],
  ["seller", "bytes32"],
  ["energy_wh", "uint64"],
  ["price_c_e4", "uint64"],
  ["value_micro_nzd", "uint128"],
];
const LEDGER_ABI = [
  "function verifyTrade(uint64 periodId, bytes encodedLeaf, uint256 index, bytes32[] proof) view returns (bool)",
  "function currentRoot(uint64 periodId) view returns (bytes32)",
];
const NODE_TIMEOUT_MS = 15000;
const USAGE = "usage: node scripts/verify-trade.mjs proof.json --rpc URL [--contract ADDRESS]";

class BadInput extends Error {}

function parseArgs(argv) {
  const options = { file: null, rpc: null, contract: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--rpc" || arg === "--contract") {
      if (i + 1 >= argv.length) throw new BadInput(`${arg} needs a value`);
      options[arg.slice(2)] = argv[++i];
    } else if (arg.startsWith("--")) {
      throw new BadInput(`unknown option ${arg}`);
    } else if (options.file === null) {
      options.file = arg;
    } else {
      throw new BadInput(`one proof file only (got ${options.file} and ${arg})`);
    }
  }
  if (!options.file) throw new BadInput("give the proof file");
  if (options.contract && !ethers.isAddress(options.contract)) {
    throw new BadInput(`--contract ${options.contract} is not an address (0x and 40 hex digits)`);
  }
  return options;
}

function readProofs(file) {
  let data;
  try {
    data = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new BadInput(`${file}: ${err.message}`);
  }
  const proofs = Array.isArray(data.trades) ? data.trades : [data];
  proofs.forEach((proof, n) => {
    const where = Array.isArray(data.trades) ? `${file}: trades[${n}]` : file;
    for (const key of ["trade_id", "leaf_encoded", "leaf_index", "proof"]) {
      if (!(key in proof)) throw new BadInput(`${where} has no "${key}": is it a Hapori trade proof?`);
    }
  });
  return proofs;
}

// An exact decimal of a fixed-point integer: the chain's integers, as the statement prints them.
function fixed(value, decimals) {
  const digits = value.toString().padStart(decimals + 1, "0");
  return `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
}

function periodName(periodId) {
  const t = periodId.toString(); // yyyymmdd then the trading period, two digits
  return `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)} TP${Number(t.slice(8))}`;
}

function decodeLeaf(encoded) {
  const values = ethers.AbiCoder.defaultAbiCoder().decode(
    LEAF_FIELDS.map(([, type]) => type),
    encoded,
  );
  return Object.fromEntries(LEAF_FIELDS.map(([name], i) => [name, values[i]]));
}

// The file's own decoded fields must say what its encoded leaf says: the chain checks the bytes,
// and a person reads the fields.
function fieldsDiffering(leaf, stated) {
  if (!stated || Object.keys(stated).length === 0) return [];
  return LEAF_FIELDS.map(([name]) => name).filter(
    (name) => String(stated[name]).toLowerCase() !== String(leaf[name]).toLowerCase(),
  );
}

// The root the proof leads to (blockchain/merkle.py's tree), to compare with the chain's.
function rootOf(encoded, index, siblings) {
  let node = ethers.keccak256(ethers.keccak256(encoded));
  let i = BigInt(index);
  for (const sibling of siblings) {
    node = ethers.keccak256(i % 2n === 0n ? ethers.concat([node, sibling]) : ethers.concat([sibling, node]));
    i /= 2n;
  }
  return node;
}

function describe(proof, leaf) {
  const you = (hash) =>
    hash === proof.member_hash ? " (you)" : hash === proof.pool_hash ? " (the hardship pool)" : "";
  return [
    `Trade ${proof.trade_id}: leaf index ${proof.leaf_index} in chain period ${leaf.period_id}`,
    `  period    ${periodName(leaf.period_id)}`,
    `  sequence  ${leaf.sequence}`,
    `  energy    ${fixed(leaf.energy_wh, 3)} kWh`,
    `  price     ${fixed(leaf.price_c_e4, 4)} c/kWh`,
    `  value     ${fixed(leaf.value_micro_nzd, 6)} NZD (what the buyer paid: energy, network and fee)`,
    `  buyer     ${leaf.buyer}${you(leaf.buyer)}`,
    `  seller    ${leaf.seller}${you(leaf.seller)}`,
  ].join("\n");
}

// Asked before ethers' provider exists: a provider left to find the chain id itself retries an
// unreachable node every second, for ever.
async function nodeChainId(url) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
    signal: AbortSignal.timeout(NODE_TIMEOUT_MS),
  });
  const answer = await response.json();
  if (!answer.result) throw new Error(`eth_chainId answered ${JSON.stringify(answer).slice(0, 200)}`);
  return BigInt(answer.result);
}

async function check(node, chainId, proof, contractOption) {
  if (!proof.leaf_encoded) {
    return [false, `trade ${proof.trade_id}: not on chain yet (its period is not committed), nothing to check`];
  }
  let leaf;
  try {
    leaf = decodeLeaf(proof.leaf_encoded);
  } catch (err) {
    return [false, `trade ${proof.trade_id}: leaf_encoded is not a Hapori leaf (${err.shortMessage || err.message})`];
  }
  console.log(describe(proof, leaf));
  const differing = fieldsDiffering(leaf, proof.leaf_fields);
  if (differing.length) {
    return [false, `the file's leaf_fields differ from its encoded leaf (${differing.join(", ")}): the file was altered`];
  }
  const contract = contractOption || proof.contract;
  if (!contract) return [false, "no contract address: give --contract ADDRESS"];
  if (!contractOption && proof.chain_id && chainId !== BigInt(proof.chain_id)) {
    return [false, `the node is chain ${chainId}, but the proof's contract is on chain ${proof.chain_id}`];
  }
  console.log(`  contract  ${contract}${contractOption ? "" : " (from the proof file)"}`);
  const ledger = new ethers.Contract(contract, LEDGER_ABI, node);
  let accepted;
  try {
    accepted = await ledger.verifyTrade(leaf.period_id, proof.leaf_encoded, proof.leaf_index, proof.proof);
  } catch (err) {
    if (err.code === "BAD_DATA") return [false, `no CoopLedger contract at ${contract} on this node`];
    return [false, `the node refused the call: ${err.shortMessage || err.message}`];
  }
  if (accepted) return [true, "verified on chain"];
  const root = await ledger.currentRoot(leaf.period_id);
  if (root === ethers.ZeroHash) {
    return [false, `root not committed: the contract holds no root for chain period ${leaf.period_id}`];
  }
  const leadsTo = rootOf(proof.leaf_encoded, proof.leaf_index, proof.proof);
  return [false, `proof rejected: the contract holds root ${root} for chain period ${leaf.period_id}; this proof leads to ${leadsTo}`];
}

async function main() {
  let options, proofs;
  try {
    options = parseArgs(process.argv.slice(2));
    proofs = readProofs(options.file);
  } catch (err) {
    if (!(err instanceof BadInput)) throw err;
    console.error(`${err.message}\n${USAGE}`);
    return 2;
  }
  if (!options.rpc) {
    const published = [...new Set(proofs.map((p) => p.rpc_url).filter(Boolean))];
    const hint = published.length ? ` (the co-op publishes ${published.join(", ")})` : "";
    console.error(`give --rpc URL: the chain node to ask${hint}\n${USAGE}`);
    return 2;
  }
  let chainId;
  try {
    chainId = await nodeChainId(options.rpc);
  } catch (err) {
    console.error(`node unreachable: ${options.rpc} did not answer (${err.cause?.message || err.message})`);
    return 1;
  }
  console.log(`Node ${options.rpc} (chain id ${chainId})`);
  const request = new ethers.FetchRequest(options.rpc);
  request.timeout = NODE_TIMEOUT_MS;
  const network = ethers.Network.from(chainId);
  const node = new ethers.JsonRpcProvider(request, network, { staticNetwork: network, batchMaxCount: 1 });
  try {
    let verified = 0;
    for (const proof of proofs) {
      const [ok, message] = await check(node, chainId, proof, options.contract);
      console.log(ok ? message : `NOT verified: ${message}`);
      verified += ok ? 1 : 0;
    }
    if (proofs.length > 1) console.log(`${verified} of ${proofs.length} trades verified on chain`);
    return verified === proofs.length ? 0 : 1;
  } finally {
    node.destroy();
  }
}

process.exitCode = await main();
