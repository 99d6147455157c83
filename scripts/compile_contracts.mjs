// Compile blockchain/contracts/*.sol with the pinned solc from npm (solcjs), for the shanghai
// EVM, into blockchain/contracts/build/<Name>.json. With --check, compile in memory and exit 1
// if the committed artifacts differ (the test suite runs this).
import { createRequire } from "node:module";
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const contractsDir = join(root, "blockchain", "contracts");
const buildDir = join(contractsDir, "build");
const check = process.argv.includes("--check");

const sources = {};
for (const name of readdirSync(contractsDir).filter((f) => f.endsWith(".sol")).sort()) {
  sources[name] = { content: readFileSync(join(contractsDir, name), "utf8") };
}
const settings = {
  evmVersion: "shanghai",
  optimizer: { enabled: true, runs: 200 },
  metadata: { bytecodeHash: "none" },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};
const output = JSON.parse(solc.compile(JSON.stringify({ language: "Solidity", sources, settings })));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(2);
}
let stale = false;
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    const artifact = JSON.stringify({
      contractName: name, sourceName: file, compiler: `solc ${solc.version()}`, settings,
      abi: c.abi, bytecode: "0x" + c.evm.bytecode.object, deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    }, null, 2) + "\n";
    const path = join(buildDir, `${name}.json`);
    if (check) {
      let current = "";
      try { current = readFileSync(path, "utf8"); } catch { /* missing counts as stale */ }
      if (current !== artifact) { console.error(`${path} is stale: run node scripts/compile_contracts.mjs`); stale = true; }
    } else {
      mkdirSync(buildDir, { recursive: true });
      writeFileSync(path, artifact);
      console.log(`wrote ${path}`);
    }
  }
}
process.exit(stale ? 1 : 0);
