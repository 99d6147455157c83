"""CoopLedger's Foundry tests (blockchain/contracts/test), run by `make test` through this file.

Forge fuzzes that only the operator commits and amends, that a committed root never changes, and
that a proof verifies for every leaf of random trees of 1-1,000 trades but for no changed field,
index or sibling. It compiles offline with the pinned solcjs (see blockchain/contracts/foundry.toml).
"""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "blockchain" / "contracts"
FORGE = ROOT / "node_modules" / ".bin" / "forge"
SUMMARY = re.compile(r"(\d+) tests passed, (\d+) failed, (\d+) skipped")


def test_forge_fuzzes_the_ledger_contract() -> None:
    if not FORGE.exists():
        pytest.skip(f"{FORGE} is missing: `make setup` installs @foundry-rs/forge with npm ci")
    # forge resolves foundry.toml's solc path from the working directory, so it runs there.
    result = subprocess.run(
        [str(FORGE), "test", "--offline", "--color", "never"],
        cwd=CONTRACTS,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # npm's forge wrapper (1.7.1) exits 0 whatever forge returns, so the verdict is the summary.
    summary = SUMMARY.findall(output)
    assert summary, f"forge printed no test summary:\n{output}"
    passed, failed, skipped = map(int, summary[-1])
    assert passed > 0, output
    assert (failed, skipped) == (0, 0), output
