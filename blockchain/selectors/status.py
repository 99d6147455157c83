"""What the database records about the chain, for pages, the admin and the commit queue.

No chain calls here (those are in selectors.onchain): only what is recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from blockchain.models import (
    Amendment,
    ChainAlarm,
    ChainDeployment,
    MemberRegistration,
    PeriodCommit,
)
from coop.models import Member
from trading.models import Trade, TradingPeriod
from trading.selectors import periods_held_back

# A commit whose transaction reverted for a reason other than "already committed" is tried this
# many times, then left for a person (admin action "retry") with an alarm.
MAX_FAILED_ATTEMPTS = 5


def deployment_active() -> ChainDeployment | None:
    return ChainDeployment.objects.filter(active=True).first()


def period_commit_status(period_pks: Iterable[int]) -> dict[int, dict[str, Any]]:
    """{period pk: status dict} on the active deployment; a period with no row is pending."""
    period_pks = set(period_pks)
    deployment = deployment_active()
    found: dict[int, dict[str, Any]] = {}
    if deployment is not None and period_pks:
        rows = PeriodCommit.objects.filter(deployment=deployment, period_id__in=period_pks)
        for row in rows:
            found[row.period_id] = _status_of(row, deployment)
    for pk in period_pks - found.keys():
        found[pk] = {"state": "pending", "label": "pending"}
    return found


def _status_of(row: PeriodCommit, deployment: ChainDeployment) -> dict[str, Any]:
    committed = row.status == PeriodCommit.Status.COMMITTED
    states: dict[str, str] = {
        PeriodCommit.Status.COMMITTED: "committed",
        PeriodCommit.Status.MISMATCH: "held",
    }
    state = states.get(row.status, "pending")
    return {
        "state": state,
        "label": {"committed": "committed", "held": "held for review"}.get(state, "pending"),
        "block": row.block_number if committed else None,
        "tx_hash": row.tx_hash if committed else "",
        "merkle_root": row.merkle_root if committed else "",
        "chain_period_id": row.chain_period_id,
        "chain_id": deployment.chain_id,
        "contract": deployment.contract_address,
        "committed_at": row.committed_at,
    }


def trade_chain_status(trades: Iterable[Trade]) -> dict[int, dict[str, Any]]:
    """{trade id: status dict}: pending, or committed with block and transaction hash.

    A trade is on chain when its period's root is: the status is per period, shared by its
    trades, so this reads one row per distinct period whatever the number of trades.
    """
    trades = list(trades)
    by_period = period_commit_status({t.period_id for t in trades})
    return {t.pk: by_period[t.period_id] for t in trades}


def trade_of_member(*, trade_id: int, member: Member) -> Trade | None:
    """The trade if `member` bought or sold in it, else None (other people's trades are not
    shown to them, not even whether they exist)."""
    return (
        Trade.objects.filter(Q(buyer=member) | Q(seller=member), pk=trade_id)
        .select_related("period", "buyer", "seller")
        .first()
    )


def trades_of_member_between(*, member: Member, first: dt.date, until: dt.date) -> QuerySet[Trade]:
    """The member's trades (bought or sold) of the NZ trading days `first` <= day < `until`."""
    return Trade.objects.filter(
        Q(buyer=member) | Q(seller=member),
        period__trading_date__gte=first,
        period__trading_date__lt=until,
    )


def commits_waiting(deployment: ChainDeployment | None = None) -> list[TradingPeriod]:
    """Settled periods with no commit recorded on the deployment yet, oldest first."""
    deployment = deployment or deployment_active()
    done = PeriodCommit.objects.filter(status=PeriodCommit.Status.COMMITTED)
    done = done.filter(deployment=deployment) if deployment is not None else done.none()
    return list(
        TradingPeriod.objects.filter(
            state__in=[TradingPeriod.State.SETTLED, TradingPeriod.State.COMMITTED]
        )
        .exclude(pk__in=done.values("period_id"))
        .order_by("start")
    )


def commits_due(
    deployment: ChainDeployment, *, up_to: TradingPeriod | None = None
) -> list[TradingPeriod]:
    """Settled periods still to commit on the deployment, oldest first, up to and including
    `up_to` (all when None); stopped ones (a mismatch, or failed too often) left out."""
    stopped = PeriodCommit.objects.filter(deployment=deployment).filter(
        Q(status=PeriodCommit.Status.MISMATCH)
        | Q(status=PeriodCommit.Status.FAILED, attempts__gte=MAX_FAILED_ATTEMPTS)
    )
    stopped_ids = set(stopped.values_list("period_id", flat=True))
    return [
        p
        for p in commits_waiting(deployment)
        if p.pk not in stopped_ids and (up_to is None or p.start <= up_to.start)
    ]


def gas_used_since(since: dt.datetime, deployment: ChainDeployment | None = None) -> int:
    """Gas the operator account spent on commits, amendments and registrations since `since`."""
    commits = PeriodCommit.objects.filter(committed_at__gte=since)
    amendments = Amendment.objects.filter(committed_at__gte=since)
    registrations = MemberRegistration.objects.filter(registered_at__gte=since)
    if deployment is not None:
        commits = commits.filter(deployment=deployment)
        amendments = amendments.filter(original__deployment=deployment)
        registrations = registrations.filter(deployment=deployment)
    total = 0
    for qs in (commits, amendments, registrations):
        total += qs.aggregate(g=Sum("gas_used"))["g"] or 0
    return total


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    """The start of this month in New Zealand time (the co-op's month), as an aware datetime."""
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def chain_overview() -> dict[str, Any]:
    """What the admin status page shows from the database (the page adds the live node)."""
    deployment = deployment_active()
    commits = (
        PeriodCommit.objects.filter(deployment=deployment).select_related("period")
        if deployment
        else PeriodCommit.objects.none()
    )
    stopped = [PeriodCommit.Status.FAILED, PeriodCommit.Status.MISMATCH]
    rows = {c.period_id: c for c in commits.exclude(status=PeriodCommit.Status.COMMITTED)}
    waiting = [
        p
        for p in commits_waiting(deployment)
        if p.pk not in rows or rows[p.pk].status not in stopped
    ]
    committed = commits.filter(status=PeriodCommit.Status.COMMITTED)
    held_back = periods_held_back()
    return {
        "held_back": list(held_back[:50]),
        "held_back_count": held_back.count(),
        "deployment": deployment,
        "pending": [
            {
                "period": p,
                "status": rows[p.pk].get_status_display() if p.pk in rows else "Waiting",
                "attempts": rows[p.pk].attempts if p.pk in rows else 0,
                "last_error": rows[p.pk].last_error if p.pk in rows else "",
            }
            for p in waiting[:50]
        ],
        "pending_count": len(waiting),
        "failed": [c for c in rows.values() if c.status in stopped],
        "committed_count": committed.count(),
        "last_commit": committed.order_by("-block_number").first(),
        "gas_this_month": gas_used_since(month_start(), deployment),
        "open_alarms": list(
            ChainAlarm.objects.filter(resolved_at__isnull=True).select_related("period")[:50]
        ),
    }
