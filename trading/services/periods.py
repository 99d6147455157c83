"""A trading period's whole life, owned here: every state change of a period is one function
of this module, and no other code writes `TradingPeriod.state`.

    open --period_close_gate--> gate_closed --period_clear--> cleared
         --period_meter--> metered --period_settle--> settled
         --period_record_committed--> committed

- open: residents place and amend orders (trading.services.orders); standing rules become
  orders (trading.services.standing). Periods are created 48 h ahead by `periods_ensure`.
- gate_closed (at `gate_closes_at`): the mechanism in force is fixed on the period; no order
  changes after this.
- cleared: the book is cleared by the pure engine (trading.services.clearing -> trading.engine).
- metered: after the period ends, once every held ICP with a meter has the co-op's own reading
  (trading.services.metered), or at METERING_DEADLINE with flagged estimates written inside
  this step's transaction.
- settled: balanced settlement lines and member summaries (trading.services.settling); an
  incomplete ICP is held aside alone. `period_settled` is sent after the commit.
- committed: the chain app records that the period's Merkle root is on chain, through
  `period_record_committed` (blockchain.services.recording, commits and amendments).

Each step claims its period with a conditional UPDATE ... WHERE state=X inside the transaction
that does the work, so a duplicate Celery task finds nothing to do, and a step that fails rolls
back and leaves the period where it was (with the error noted) for the next beat tick to retry.
A period's gate is closed and its book cleared at the gate-closure instant by a task queued a
few minutes before with that ETA (`gate_closures_schedule`, trading.tasks.gate_closure);
`periods_advance` (the minute's beat tick) walks every due period forward in order, and is the
safety net for a gate closure whose task was lost.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
from collections.abc import Callable, Iterator
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from coop import nz
from coop.models import CoopSettings
from trading.models import NetworkPriceWindow, TradingPeriod
from trading.services.clearing import book_clear
from trading.services.metered import metered_data_ready, readings_estimate_awaited
from trading.services.network_prices import feeder_prices_firm
from trading.services.settling import settlement_write
from trading.signals import period_settled

log = logging.getLogger(__name__)
State = TradingPeriod.State


def periods_ensure(*, now: dt.datetime | None = None, hours: int = 48) -> int:
    """Create the rows for every trading period from now until `hours` ahead. Idempotent."""
    now = now or timezone.now()
    lead = dt.timedelta(minutes=CoopSettings.load().gate_closure_minutes)
    day, _ = nz.trading_period_of(now)
    horizon = now + dt.timedelta(hours=hours)
    existing = set(
        TradingPeriod.objects.filter(
            start__gte=now - dt.timedelta(days=1), start__lte=horizon
        ).values_list("start", flat=True)
    )
    rows = []
    while nz.trading_day_start(day) < horizon:
        for number, start, end in nz.trading_periods(day):
            if end > now and start < horizon and start not in existing:
                rows.append(
                    TradingPeriod(
                        trading_date=day,
                        number=number,
                        start=start,
                        end=end,
                        gate_closes_at=start - lead,
                        network_price_c=network_price_for(start),
                    )
                )
        day += dt.timedelta(days=1)
    TradingPeriod.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def network_price_for(start: dt.datetime) -> Decimal:

    return NetworkPriceWindow.price_at(start)


def _claim(period_id: int, from_state: State, to_state: State) -> bool:
    """Move a period on if (and only if) it is still in `from_state`. Call inside atomic()."""
    life = TradingPeriod.LIFE
    if life.index(to_state) != life.index(from_state) + 1:
        raise ValueError(f"A period never moves from {from_state} to {to_state}.")
    claimed = TradingPeriod.objects.filter(pk=period_id, state=from_state).update(
        state=to_state, state_changed_at=timezone.now(), last_error=""
    )
    return claimed == 1


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection meanwhile. Clearing and settling a large period allocate
    hundreds of thousands of small objects (rows, lines, Decimals) that form no cycles and
    are freed by reference counting; each few hundred allocations would otherwise start a
    collection that walks every object the worker holds: a third of settling a 5,000-member
    period. Collection resumes, and catches up, when the step is over."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _step(period_id: int, from_state: State, to_state: State, work: Callable[..., object]) -> bool:
    try:
        with transaction.atomic(), _collector_paused():
            if not _claim(period_id, from_state, to_state):
                return False
            period = TradingPeriod.objects.select_for_update().get(pk=period_id)
            work(period=period)
    except Exception as exc:
        log.exception("trading period %s: %s -> %s failed", period_id, from_state, to_state)
        TradingPeriod.objects.filter(pk=period_id, state=from_state).update(
            last_error=f"{to_state}: {exc}"[:2000]
        )
        return False
    return True


def period_close_gate(*, period_id: int, now: dt.datetime | None = None) -> bool:
    """open -> gate_closed, never before the period's gate closure (a task queued by a
    machine whose clock runs ahead finds nothing to do)."""
    now = now or timezone.now()
    if not TradingPeriod.objects.filter(pk=period_id, gate_closes_at__lte=now).exists():
        return False

    def work(*, period: TradingPeriod) -> None:

        period.mechanism = CoopSettings.load().mechanism
        period.save(update_fields=["mechanism"])
        # The period trades on the network prices it had at gate closure, whatever a later
        # recomputation says.
        feeder_prices_firm(period=period)
        # No order needs touching: placing, amending and cancelling hold the period row FOR
        # SHARE (trading.services.orders), so this step's claim waited for any in flight, and
        # any after it sees the gate closed.

    return _step(period_id, State.OPEN, State.GATE_CLOSED, work)


def period_clear(*, period_id: int) -> bool:

    return _step(period_id, State.GATE_CLOSED, State.CLEARED, book_clear)


def period_meter(*, period_id: int, deadline_passed: bool = False) -> bool:
    """Move on once metering has the period's data, or at the deadline with estimates."""

    period = TradingPeriod.objects.get(pk=period_id)
    if period.state != State.CLEARED or not metered_data_ready(
        period, deadline_passed=deadline_passed
    ):
        return False
    return _step(period_id, State.CLEARED, State.METERED, readings_estimate_awaited)


def period_settle(*, period_id: int) -> bool:

    done = _step(period_id, State.METERED, State.SETTLED, settlement_write)
    if done:
        transaction.on_commit(
            lambda: period_settled.send(sender=TradingPeriod, period_id=period_id)
        )
    return done


def period_record_committed(*, period_id: int) -> bool:
    """settled -> committed: the chain app records that the period's root is on chain.

    The same conditional claim as every other step, so a duplicate commit task, the indexer
    and an amendment recording the same fact move the period once, and never from any state
    but `settled`. The chain app calls this inside the transaction that records the commit.
    """
    return _claim(period_id, State.SETTLED, State.COMMITTED)


METERING_DEADLINE = TradingPeriod.METERING_DEADLINE
# How far ahead a gate closure's task is queued (trading.tasks.gate_closure, with an ETA at the
# instant). Not when the period is created, 48 h ahead: the Redis broker hands a task that has
# waited longer than its visibility timeout (10 min, config/celery.py) out again, once per
# timeout, so a two-day wait would deliver it hundreds of times. Five minutes is inside the
# timeout and leaves the minute's tick four chances to queue it.
GATE_CLOSURE_LOOKAHEAD = dt.timedelta(minutes=5)


def gate_closures_schedule(
    *, now: dt.datetime | None = None, lookahead: dt.timedelta = GATE_CLOSURE_LOOKAHEAD
) -> list[tuple[int, dt.datetime]]:
    """The open periods whose gate closes within `lookahead` and whose closing task is not
    queued yet, each claimed (a conditional UPDATE) so that it is queued once however many
    ticks run: [(period id, gate closure instant)] for the caller to queue."""
    now = now or timezone.now()
    due = TradingPeriod.objects.filter(
        state=State.OPEN,
        gate_closure_scheduled_at__isnull=True,
        gate_closes_at__lte=now + lookahead,
    ).values_list("pk", "gate_closes_at")
    return [
        (pk, at)
        for pk, at in due
        if TradingPeriod.objects.filter(pk=pk, gate_closure_scheduled_at__isnull=True).update(
            gate_closure_scheduled_at=now
        )
    ]


def periods_advance(*, now: dt.datetime | None = None) -> dict[str, int]:
    """One beat tick: every period that is due moves on, oldest first, as far as it can.

    A period that missed ticks (worker down) is caught up here in order, because each pass
    walks the states in the order of the period's life.
    """
    now = now or timezone.now()
    moved = {"gate_closed": 0, "cleared": 0, "metered": 0, "settled": 0, "holds_resolved": 0}
    for pk in (
        TradingPeriod.objects.filter(state=State.OPEN, gate_closes_at__lte=now)
        .order_by("start")
        .values_list("pk", flat=True)
    ):
        moved["gate_closed"] += period_close_gate(period_id=pk, now=now)
    for pk in (
        TradingPeriod.objects.filter(state=State.GATE_CLOSED)
        .order_by("start")
        .values_list("pk", flat=True)
    ):
        moved["cleared"] += period_clear(period_id=pk)
    for pk, end in (
        TradingPeriod.objects.filter(state=State.CLEARED, end__lte=now)
        .order_by("start")
        .values_list("pk", "end")
    ):
        moved["metered"] += period_meter(
            period_id=pk, deadline_passed=now >= end + METERING_DEADLINE
        )
    for pk in (
        TradingPeriod.objects.filter(state=State.METERED)
        .order_by("start")
        .values_list("pk", flat=True)
    ):
        moved["settled"] += period_settle(period_id=pk)
    # ICPs held aside at settlement (no tariff, no reading) settle once they are complete.
    from trading.services.settling import settlement_holds_retry

    moved["holds_resolved"] = settlement_holds_retry(now=now)
    return moved
