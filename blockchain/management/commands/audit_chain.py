"""`manage.py audit_chain`: recompute every committed period's root and compare with the chain."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from blockchain.chain.node import ChainUnavailable
from blockchain.selectors.onchain import chain_audit


class Command(BaseCommand):
    help = (
        "Recompute the Merkle root of every committed period from the database, compare it with "
        "the contract, and exit non-zero listing every mismatch."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = chain_audit()
        except ChainUnavailable as exc:
            raise CommandError(str(exc)) from exc
        if not report.contract:
            self.stdout.write("No contract deployed on the configured chain: nothing to audit.")
        else:
            self.stdout.write(
                f"Checked {report.checked} committed period(s) against {report.contract}."
            )
        if report.not_committed:
            self.stdout.write(
                f"{report.not_committed} period(s) marked committed are not yet on this chain's "
                "contract (waiting to be committed again)."
            )
        if report.mismatches:
            for line in report.mismatches:
                self.stderr.write(
                    f"MISMATCH {line.period} (chain period {line.chain_period_id}): "
                    f"{line.problem}; database {line.database_root}, "
                    f"chain {line.chain_root or '(none)'}"
                )
            raise CommandError(f"{len(report.mismatches)} period(s) disagree with the chain.")
        self.stdout.write(self.style.SUCCESS("Every committed period matches the chain."))
