#!/usr/bin/env node
// The pinned solcjs from npm, answering forge as a native solc would. Forge only runs
// `solc --version` and `solc --allow-paths P --base-path P --standard-json` (input on stdin, every
// source's content inline), and native solc binaries come from a host this project cannot
// reach, so this lets `forge test --offline` compile with the same compiler that built the
// committed artifacts. solcjs's own command line rejects --allow-paths, hence this file.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const solc = require("solc");
const args = process.argv.slice(2);

if (args.includes("--version")) {
  console.log(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}`);
} else if (args.includes("--standard-json")) {
  process.stdout.write(solc.compile(readFileSync(0, "utf8")));
} else {
  console.error(`solcjs-as-solc: only --version and --standard-json are served, not: ${args.join(" ")}`);
  process.exit(2);
}
