"""`manage.py bench_chain --trades 1,10,100,1000`: gas per commit and per trade, as JSON.

Measured on the configured chain (CHAIN_RPC_URL) with a contract deployed for the bench alone,
so the co-op's own contract never holds benchmark periods. With no chain configured, a dev
chain (Ganache by default, --chain anvil for Anvil) is started on a free port for the run.
"""

import contextlib
import json
import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from blockchain import merkle
from blockchain.chain.client import LedgerClient, PeriodTotals
from blockchain.chain.devchain import DevChain
from blockchain.services.operator import OperatorBusy, operator_lock

GAS_LIMIT_PER_COMMIT = 60_000
# Periods far in the future (2099-12-31, TP 1..) so a bench never collides with a real one.
BENCH_PERIOD_BASE = 20991231 * 100


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise CommandError(
            f"--trades takes whole numbers separated by commas, not {text!r}"
        ) from exc
    if not sizes or any(n < 1 or n > 100_000 for n in sizes):
        raise CommandError("--trades sizes must be between 1 and 100000")
    return sizes


class Command(BaseCommand):
    help = "Measure the gas of one period commit for several numbers of trades; prints JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trades", default="1,10,100,1000", help="comma-separated sizes")
        parser.add_argument(
            "--chain",
            choices=["ganache", "anvil"],
            default="ganache",
            help="dev chain to start when CHAIN_RPC_URL is not set",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        sizes = _sizes(options["trades"])
        with contextlib.ExitStack() as stack:
            url = settings.CHAIN_RPC_URL
            started = ""
            if not url:
                chain = DevChain(options["chain"]).start()
                stack.callback(chain.stop)
                url, started = chain.url, options["chain"]
            else:
                # The co-op's workers send from the same account: take turns on its nonces.
                try:
                    stack.enter_context(operator_lock(wait_seconds=60))
                except OperatorBusy as exc:
                    raise CommandError(str(exc)) from exc
            try:
                result = self.measure(url, sizes)
            except OSError as exc:
                raise CommandError(f"The chain node at {url} does not answer: {exc}") from exc
        result["started_dev_chain"] = started or None
        self.stdout.write(json.dumps(result, indent=2))

    def measure(self, url: str, sizes: list[int]) -> dict[str, Any]:
        client = LedgerClient(url, settings.CHAIN_PRIVATE_KEY, timeout=60)
        contract = client.deploy().address
        buyer, seller = secrets.token_bytes(32), secrets.token_bytes(32)
        rows = []
        for i, n in enumerate(sizes, start=1):
            period_id = BENCH_PERIOD_BASE + i
            leaves = [
                merkle.encode_leaf(
                    merkle.TradeLeaf(period_id, s, buyer, seller, 1_250 + s, 185_000, 250_000 + s)
                )
                for s in range(1, n + 1)
            ]
            root = merkle.merkle_root(leaves)
            totals = PeriodTotals(
                period_id,
                "0x" + root.hex(),
                n,
                sum(1_250 + s for s in range(1, n + 1)),
                sum(250_000 + s for s in range(1, n + 1)),
            )
            receipt = client.commit_period(contract, totals)
            if receipt.status != 1:
                raise CommandError(f"The commit of {n} trades reverted (tx {receipt.tx_hash}).")
            last = n - 1
            verified = client.verify_trade(
                contract,
                period_id=period_id,
                leaf=leaves[last],
                index=last,
                proof=merkle.merkle_proof(leaves, last),
            )
            rows.append(
                {
                    "trades": n,
                    "gas_per_commit": receipt.gas_used,
                    "gas_per_trade": round(receipt.gas_used / n, 2),
                    "proof_length": len(merkle.merkle_proof(leaves, last)),
                    "proof_verified_on_chain": verified,
                }
            )
        return {
            "chain_url": url,
            "chain_id": client.chain_id(),
            "client": client.client_version(),
            "contract": contract,
            "limit_per_commit": GAS_LIMIT_PER_COMMIT,
            "all_under_limit": all(r["gas_per_commit"] < GAS_LIMIT_PER_COMMIT for r in rows),
            "results": rows,
        }
