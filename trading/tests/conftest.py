"""The market the trading tests share: two members with meters and a flat tariff, the second
with PV and a battery, and the trading periods of six hours from MARKET_NOW."""

import datetime as dt
from decimal import Decimal

import pytest

from conftest import give_flat_tariff

MARKET_NOW = dt.datetime(2026, 7, 8, 0, 0, tzinfo=dt.UTC)  # 12:00 NZST, a winter Wednesday


@pytest.fixture
def market(resident, other_resident):
    from coop.models import Battery, PVSystem
    from metering.models import Meter
    from trading.services import periods

    for member, pv in ((resident, None), (other_resident, Decimal("6.6"))):
        icp = member.icps.get()
        give_flat_tariff(member)
        Meter.objects.create(icp=icp)
        if pv:
            PVSystem.objects.create(icp=icp, capacity_kwp=pv, inverter_kw=Decimal(5))
            Battery.objects.create(icp=icp, capacity_kwh=Decimal(10), power_kw=Decimal(5))
    periods.periods_ensure(now=MARKET_NOW, hours=6)
    return resident, other_resident
