import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from coop import services
from coop.models import ICP, Battery, CoopSettings, ICPHolding, PVSystem, Tariff, TariffRate

pytestmark = pytest.mark.django_db
FLAT = [{"kind": "import", "label": "Anytime", "rate_c": Decimal("33.1")}]


def icp_fields(identifier: str = "0000638109TRE20", **extra):
    return dict(
        identifier=identifier,
        address="1 Main Highway, Ellerslie",
        grid_exit_point="PEN0331",
        latitude=Decimal("-36.9"),
        longitude=Decimal("174.81"),
        **extra,
    )


def test_icp_with_wrong_checksum_is_refused_and_nothing_saved(resident):
    with pytest.raises(ValidationError) as err:
        services.icp_create(member=resident, **icp_fields("0000638109TRE21"))
    assert "wrong checksum" in str(err.value)
    assert "E20" not in str(err.value)
    assert not ICP.objects.filter(identifier="0000638109TRE21").exists()


def test_icp_shape_and_node_are_checked(resident):
    with pytest.raises(ValidationError, match="not an ICP"):
        services.icp_create(member=resident, **icp_fields("12345"))
    with pytest.raises(ValidationError, match="not a grid exit point"):
        services.icp_create(member=resident, **{**icp_fields(), "grid_exit_point": "PENROSE"})


def test_icp_changes_holder_with_history(resident, other_resident):
    icp = services.icp_create(member=resident, on=dt.date(2026, 1, 1), **icp_fields())
    assert icp.distributor_code == "TR"
    services.icp_assign_member(icp=icp, member=other_resident, on=dt.date(2026, 6, 1))
    icp.refresh_from_db()
    assert icp.member == other_resident
    history = list(ICPHolding.objects.filter(icp=icp).order_by("started_on"))
    assert [(h.member, h.started_on, h.ended_on) for h in history] == [
        (resident, dt.date(2026, 1, 1), dt.date(2026, 6, 1)),
        (other_resident, dt.date(2026, 6, 1), None),
    ]
    with pytest.raises(ValidationError, match="cannot start earlier"):
        services.icp_assign_member(icp=icp, member=resident, on=dt.date(2026, 5, 1))


def test_negative_capacities_are_refused(resident):
    icp = resident.icps.get()
    for asset in (
        PVSystem(icp=icp, capacity_kwp=Decimal("-1"), inverter_kw=Decimal(5)),
        Battery(icp=icp, capacity_kwh=Decimal("0"), power_kw=Decimal(5)),
    ):
        with pytest.raises(ValidationError):
            asset.full_clean()


def test_tariff_needs_every_half_hour_priced_once(resident):
    icp = resident.icps.get()
    common = {
        "retailer": "Mercury",
        "plan_name": "Basic",
        "effective_from": dt.date(2026, 4, 1),
        "daily_fixed_c": Decimal("180"),
        "buyback_c": Decimal("12"),
    }
    with pytest.raises(ValidationError, match="gap"):
        services.tariff_create(
            icp=icp,
            rates=[
                {
                    "kind": "import",
                    "label": "Day",
                    "start_time": dt.time(7),
                    "end_time": dt.time(23),
                    "rate_c": Decimal(30),
                }
            ],
            **common,
        )
    with pytest.raises(ValidationError, match="overlap"):
        services.tariff_create(icp=icp, rates=FLAT * 2, **common)
    assert not Tariff.objects.exists()
    assert not TariffRate.objects.exists()
    tariff = services.tariff_create(icp=icp, rates=FLAT, **common)
    prices = tariff.spec().prices_at(dt.datetime(2026, 7, 1, tzinfo=dt.UTC))
    assert prices.import_c == Decimal("33.1") / Decimal("1.15")


def test_tariff_dates_cannot_overlap(resident):
    icp = resident.icps.get()
    common = {
        "retailer": "Mercury",
        "plan_name": "Basic",
        "daily_fixed_c": Decimal("180"),
        "buyback_c": Decimal("12"),
    }
    services.tariff_create(
        icp=icp,
        rates=FLAT,
        effective_from=dt.date(2026, 4, 1),
        effective_to=dt.date(2026, 9, 30),
        **common,
    )
    with pytest.raises(ValidationError, match="overlap"):
        services.tariff_create(icp=icp, rates=FLAT, effective_from=dt.date(2026, 9, 1), **common)
    services.tariff_create(icp=icp, rates=FLAT, effective_from=dt.date(2026, 10, 1), **common)
    with pytest.raises(ValidationError, match="cannot end before"):
        services.tariff_create(
            icp=icp,
            rates=FLAT,
            effective_from=dt.date(2027, 10, 1),
            effective_to=dt.date(2027, 1, 1),
            **common,
        )


def test_coop_settings_is_one_row_and_validated():
    first = CoopSettings.load()
    CoopSettings(name="Other").save()
    assert CoopSettings.objects.count() == 1
    assert CoopSettings.load().name == "Other"
    first.price_floor_c = Decimal(50)
    first.price_cap_c = Decimal(40)
    with pytest.raises(ValidationError, match="floor must be below"):
        first.full_clean()
