"""What the market needs from metering: each ICP's import and export for a period.

Metering owns readings; the market only reads them through metering's selectors (trading
depends on metering, never the reverse).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Q

from coop.completeness import icps_without_meter
from coop.models import ICPHolding
from metering import selectors
from metering.services.readings import readings_estimate_missing
from trading.models import TradingPeriod


def period_holders(period: TradingPeriod) -> dict[int, int]:
    """{ICP id: member id} of every ICP held by a member on the period's trading day: the
    holder then (ICPHolding), not whoever holds the ICP now, so a period settled late, or an
    ICP that changed hands since, still settles with the member who used the energy. A
    holding's end day is exclusive (coop.selectors.held_spans)."""
    day = period.trading_date
    held = ICPHolding.objects.filter(started_on__lte=day).filter(
        Q(ended_on__isnull=True) | Q(ended_on__gt=day)
    )
    return dict(held.values_list("icp_id", "member_id"))


def period_icp_ids(period: TradingPeriod) -> set[int]:
    """Every ICP settled in this period: those held by a member on its trading day."""
    return set(period_holders(period))


def icps_awaited(period: TradingPeriod) -> set[int]:
    """Held ICPs with a meter that have no reading from the co-op's own data for the period.

    An ICP with no meter is not waited for, ever: it will never report, and one member's
    missing meter must not hold up everyone's settlement. Nor is it estimated at the deadline:
    an estimate with no meter behind it would never be replaced by a real reading, so a guess
    would settle as if measured. If a reading does turn up for it (an EIEP file), it is used;
    otherwise settlement holds that ICP aside alone (trading.services.settling).
    """

    missing = selectors.icps_missing(period.start, period_icp_ids(period))
    return missing - icps_without_meter(missing)


def metered_data_ready(period: TradingPeriod, *, deadline_passed: bool) -> bool:
    """May the period move to `metered`? Reads only: every awaited reading is in, or the
    deadline has passed (the claimed step then estimates what is still missing)."""
    return deadline_passed or not icps_awaited(period)


def readings_estimate_awaited(*, period: TradingPeriod) -> int:
    """Write flagged estimates for the readings still awaited (called at the deadline, inside
    the claimed step that moves the period to `metered`): settle on estimates rather than hold
    the period, and everyone's statement, back; an actual reading that arrives later is kept
    as a correction. The number of estimates written."""

    awaited = icps_awaited(period)
    if not awaited:
        return 0
    return readings_estimate_missing(interval_start=period.start, icp_ids=awaited)


def period_energy(
    period: TradingPeriod, icp_ids: Iterable[int] | None = None
) -> dict[int, tuple[Decimal, Decimal]]:
    """{ICP id: (import kWh, export kWh)} of the ICPs with a reading (held ICPs by default)."""

    wanted = period_icp_ids(period) if icp_ids is None else set(icp_ids)
    energy = selectors.period_energy(period.start, wanted)
    return {icp_id: (imp, exp) for icp_id, (imp, exp, _quality) in energy.items()}
