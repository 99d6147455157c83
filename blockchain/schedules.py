"""The chain's periodic tasks (coop.schedules)."""

from coop.schedules import Beat

BEAT = [
    Beat(
        "Chain: commit settled periods in order",
        "blockchain.tasks.commit_pending",
        every_seconds=60,
    ),
    Beat(
        "Chain: follow blocks and contract events", "blockchain.tasks.index_chain", every_seconds=30
    ),
]
