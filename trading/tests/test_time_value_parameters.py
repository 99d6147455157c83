"""The distributor's time-value parameters: refused when they would make the price fall as a
transformer fills, with the field and the reason; the rebate's windows read as local times."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from coop import nz
from trading.models import TimeValueParameters

pytestmark = pytest.mark.django_db


def messages(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return " ".join(f"{k}: {' '.join(v)}" for k, v in exc.value.message_dict.items())


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("kc", Decimal(-1), "Kc"),
        ("kv", Decimal(-1), "sag"),
        ("exponent", Decimal(0), "exponent"),
        ("theta", Decimal("1.2"), "theta"),
        ("floor_c", Decimal(200), "floor"),
    ],
)
def test_price_parameters_that_make_the_price_fall_as_loading_rises_are_refused(field, value, says):
    row = TimeValueParameters(effective_from=dt.date(2026, 7, 1), **{field: value})
    with pytest.raises(ValidationError) as exc:
        row.full_clean()
    assert field in exc.value.message_dict, exc.value.message_dict
    assert says.lower() in messages(exc).lower()
    assert not TimeValueParameters.objects.exists()


def test_the_defaults_are_valid_and_the_rebate_windows_are_read():
    row = TimeValueParameters(effective_from=dt.date(2026, 7, 1), peak_export_rebate_c=Decimal(3))
    row.full_clean()
    evening = nz.trading_period_start(dt.date(2026, 7, 13), 37)  # Monday 18:00
    noon = nz.trading_period_start(dt.date(2026, 7, 13), 25)
    assert row.rebate_at(evening) == Decimal(3)
    assert row.rebate_at(noon) == Decimal(0)
    row.rebate_windows = "17:00 to 21:00"
    with pytest.raises(ValidationError) as exc:
        row.full_clean()
    assert "rebate_windows" in exc.value.message_dict
