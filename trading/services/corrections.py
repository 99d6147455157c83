"""settled / committed -> the same state, amended: a period settled again on corrected readings.

A settled period's readings change only through the correction path: a late meter sample
turning an estimate into an actual, or an admin's EIEP3 file correcting a value. Metering says
so after its commit (metering.signals.readings_corrected, trading.receivers), and each affected
period is settled again here as an amendment:

- the settlement is computed afresh by the same pure core (settling.settlement_compute ->
  trading.engine.settlement.settle) from the current readings, for the same trades;
- only the difference from the lines already written is added, as new lines of one
  SettlementAmendment (engine.settlement.difference): nothing written is edited or deleted, so
  the history stays auditable, and the period's lines, originals and amendments together, add up
  per account, ICP, kind and trade to what a fresh settlement would write (to the micro-dollar),
  and still sum to exactly zero, since the difference is made of transfers too;
- each member's MemberPeriodSummary is set to the fresh figures, so statements show the
  corrected month;
- nothing happens when the fresh settlement gives the same lines and figures: running it twice
  adds nothing the second time.

An ICP held aside (an open SettlementHold) stays held: its deviation is left to
settling.settlement_hold_settle, which settles it from the readings of its own day when it is
complete. An ICP whose hold was resolved is settled like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal

from django.db import connection, transaction

from coop.units import kwh_to_wh, nzd_to_micro
from trading.engine.settlement import Line, MemberSummary, difference
from trading.models import (
    MemberPeriodSummary,
    SettlementAmendment,
    SettlementHold,
    SettlementLine,
    TradingPeriod,
)
from trading.services.settling import (
    NO_SUMMARY,
    lines_write,
    settlement_compute,
    summaries_write,
    summary_figures,
)

log = logging.getLogger(__name__)
State = TradingPeriod.State
AMENDABLE = (State.SETTLED, State.COMMITTED)
# The period's last_error while a re-settlement fails, cleared by the next one that works.
ERROR_PREFIX = "re-settle: "


def _settled_lines(period: TradingPeriod, sequence: dict[int, int]) -> list[Line]:
    """The period's lines so far (originals, held ICPs settled since, amendments), as the core's
    lines; `sequence` is {trade id: trade sequence}."""
    return [
        Line(
            (account,) if account != "member" else ("member", member_id),
            icp_id,
            kind,
            kwh_to_wh(kwh),
            nzd_to_micro(amount),
            sequence[trade_id] if trade_id is not None else None,
        )
        for account, member_id, icp_id, kind, kwh, amount, trade_id in (
            SettlementLine.objects.filter(period=period)
            .order_by("pk")
            .values_list(
                "account", "member_id", "icp_id", "kind", "energy_kwh", "amount_nzd", "trade_id"
            )
        )
    ]


def period_resettle(*, period_id: int, reason: str) -> SettlementAmendment | None:
    """Settle a settled or committed period again from its current readings, as an amendment.

    The amendment written, or None: nothing differs, or the period is not settled (yet: its
    settlement will read the corrected readings). The period stays in its state. A failure is
    recorded on the period (its last_error, an alarm on the admin home page) and raised.
    """
    if not reason.strip():
        raise ValueError("Say why the period is settled again: the reason is kept on the record.")
    try:
        with transaction.atomic():
            amendment = _resettle(period_id, reason.strip())
    except Exception as exc:
        log.exception("trading period %s could not be settled again", period_id)
        TradingPeriod.objects.filter(pk=period_id).update(last_error=f"{ERROR_PREFIX}{exc}"[:2000])
        raise
    return amendment


def _resettle(period_id: int, reason: str) -> SettlementAmendment | None:
    # The period's row lock: settling (period_settle's claim), holds settling
    # (settlement_hold_settle) and other re-settlements of it wait for this one, and it reads
    # the readings after any of them has committed.
    period = TradingPeriod.objects.select_for_update().get(pk=period_id)
    if period.state not in AMENDABLE:
        return None
    open_holds = set(
        SettlementHold.objects.filter(period=period, resolved_at__isnull=True).values_list(
            "icp_id", flat=True
        )
    )
    computed = settlement_compute(period, held=open_holds)
    if computed.gaps:
        # An ICP settled before cannot be settled now (its tariff was removed since): refuse
        # rather than write a settlement that leaves it out.
        raise ValueError(f"{period} cannot be settled again: {'; '.join(computed.gaps.values())}")
    sequences = {pk: seq for seq, pk in computed.trade_ids.items()}
    lines = difference(_settled_lines(period, sequences), computed.result.lines)
    if sum(line.amount for line in lines):  # impossible by construction; a guard
        raise AssertionError(f"{period}: the amendment does not sum to zero")

    summaries = {s.member_id: s for s in MemberPeriodSummary.objects.filter(period=period)}
    figures = {
        member_id: summary_figures(computed.result.members.get(member_id, NO_SUMMARY))
        for member_id in summaries.keys() | computed.result.members.keys()
    }
    stale = {
        member_id: fields
        for member_id, fields in figures.items()
        if member_id not in summaries
        or any(getattr(summaries[member_id], name) != value for name, value in fields.items())
    }
    if period.last_error.startswith(ERROR_PREFIX):  # an earlier attempt failed; this one works
        TradingPeriod.objects.filter(pk=period.pk).update(last_error="")
    if not lines and not stale:
        return None

    # The trades are not touched, and the chain commits the period's trades alone (the Merkle
    # root of its trade leaves, blockchain.merkle): a committed period's commitment stays valid
    # and the period stays committed (or settled, still to be committed).
    amendment = SettlementAmendment.objects.create(
        period=period, reason=reason, period_state=period.state
    )
    lines_write(period, lines, computed.trade_ids, amendment)
    _summaries_set(period, summaries, stale, computed.result.members)
    log.info("trading period %s settled again (%d lines): %s", period, len(lines), reason)
    return amendment


def _summaries_set(
    period: TradingPeriod,
    summaries: dict[int, MemberPeriodSummary],
    stale: dict[int, dict[str, Decimal]],
    fresh: Mapping[int, MemberSummary],
) -> None:
    """Set the stale members' summaries of the period to their fresh figures: those stored
    updated in place, the others written. In two statements on PostgreSQL, not an
    update_or_create each: a file correcting every ICP of a 5,000-member period spent 12 of its
    13.7 s re-settling on them (and Django's bulk_update, a CASE per row and column in one
    statement, grows with the square of the rows there). Off PostgreSQL bulk_update, which goes
    in batches under SQLite's cap on a statement's variables."""
    stored = [summaries[member_id] for member_id in stale if member_id in summaries]
    for summary in stored:
        for name, value in stale[summary.member_id].items():
            setattr(summary, name, value)
    if stored and connection.vendor == "postgresql":
        names = list(summary_figures(NO_SUMMARY))
        table = connection.ops.quote_name(MemberPeriodSummary._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} s SET {', '.join(f'{n} = v.{n}' for n in names)} "  # noqa: S608 (names only)
                f"FROM unnest(%s::bigint[]{', %s::numeric[]' * len(names)}) "
                f"AS v(id, {', '.join(names)}) WHERE s.id = v.id",
                [[row.pk for row in stored], *([getattr(row, n) for row in stored] for n in names)],
            )
    elif stored:
        MemberPeriodSummary.objects.bulk_update(stored, list(summary_figures(NO_SUMMARY)))
    summaries_write(
        period,
        {m: fresh.get(m, NO_SUMMARY) for m in stale if m not in summaries},
    )
