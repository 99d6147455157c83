"""What the chain app does when other apps' signals fire. Connected in BlockchainConfig.ready()."""

from __future__ import annotations

from typing import Any

from django.db import transaction

# The dispatch_uid the receiver has always been connected with (a second connect is a no-op).
COMMIT_SETTLED_PERIOD = "blockchain.commit_settled_period"


def commit_when_settled(
    sender: type,  # noqa: ARG001  (signature fixed by Django)
    period_id: int,
    **kwargs: Any,
) -> None:
    """Queue the commit once the settlement is in the database (never for a rolled-back one).

    Robust: a broker hiccup must not fail the settlement that sent the signal; the beat sweep
    (commit_pending) commits any period whose task was never queued.
    """
    # Imported here for start-up cost: blockchain.tasks brings in web3 (about half a second),
    # and this module is imported by ready(), that is by every process and manage.py command.
    from blockchain.tasks import commit_period

    transaction.on_commit(lambda: commit_period.delay(period_id), robust=True)
