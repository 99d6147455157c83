"""What the market needs from metering: each ICP's import and export for a period.

Metering owns readings; the market only reads them through metering's selectors (trading
depends on metering, never the reverse).
"""

from __future__ import annotations

from decimal import Decimal

from coop.models import ICP
from trading.models import TradingPeriod


def period_icp_ids(period: TradingPeriod) -> set[int]:
    """Every ICP settled in this period: all ICPs held by a member at the period's date."""
    return set(ICP.objects.filter(member__isnull=False).values_list("pk", flat=True))


def metered_data_ready(period: TradingPeriod, deadline_passed: bool) -> bool:
    from metering import selectors, services

    icp_ids = period_icp_ids(period)
    missing = selectors.icps_missing(period.start, icp_ids)
    if not missing:
        return True
    if deadline_passed:
        # Settle on flagged estimates rather than hold the period (and everyone's statement)
        # back; an actual reading that arrives later is kept as a correction.
        services.readings_estimate_missing(period.start, missing)
        return True
    return False


def period_energy(period: TradingPeriod) -> dict[int, tuple[Decimal, Decimal]]:
    from metering import selectors

    energy = selectors.period_energy(period.start, period_icp_ids(period))
    return {icp_id: (imp, exp) for icp_id, (imp, exp, _quality) in energy.items()}
