import datetime as dt
from decimal import Decimal

import pytest

from coop.tariffs import TariffError, TariffSpec, Window, parse_days, parse_months

T = dt.time


def tou() -> TariffSpec:
    return TariffSpec(
        daily_fixed_c=Decimal("230"),
        buyback_c=Decimal("12"),
        import_windows=(
            Window("Night", "All", T(23), T(7), "All", Decimal("23")),
            Window("Peak", "Mon-Fri", T(7), T(11), "All", Decimal("40.25")),
            Window("Peak", "Mon-Fri", T(17), T(21), "All", Decimal("40.25")),
            Window("Day", "Mon-Fri", T(11), T(17), "All", Decimal("34.5")),
            Window("Day", "Mon-Fri", T(21), T(23), "All", Decimal("34.5")),
            Window("Day", "Sat,Sun", T(7), T(23), "All", Decimal("34.5")),
        ),
        lines_windows=(
            Window("Peak", "Mon-Fri", T(7), T(11), "Apr-Sep", Decimal("11.5")),
            Window("Rest", "Mon-Fri", T(11), T(7), "Apr-Sep", Decimal("0")),
            Window("Rest", "Sat-Sun", T(0), T(0), "Apr-Sep", Decimal("0")),
            Window("Rest", "All", T(0), T(0), "Oct-Mar", Decimal("0")),
        ),
    )


def test_parsing_days_and_months():
    assert parse_days("Mon-Fri") == {0, 1, 2, 3, 4}
    assert parse_days("Sat,Sun") == {5, 6}
    assert parse_days("Fri-Mon") == {4, 5, 6, 0}
    assert parse_months("Apr-Sep") == {3, 4, 5, 6, 7, 8}
    assert parse_months("Nov-Feb") == {10, 11, 0, 1}
    assert parse_months("all") == set(range(12))
    with pytest.raises(TariffError, match="not a day"):
        parse_days("Mon-Funday")


def test_prices_follow_the_local_clock_and_exclude_gst():
    spec = tou()
    spec.validate()
    # Wednesday 8 July 2026 08:00 NZST = 20:00 UTC on the 7th: weekday peak, winter lines.
    peak = spec.prices_at(dt.datetime(2026, 7, 7, 20, 0, tzinfo=dt.UTC))
    assert peak.import_c == Decimal("35")  # 40.25 incl. GST
    assert peak.lines_c == Decimal("10")
    assert peak.export_c == Decimal("12")  # buy-back quoted excl. GST
    night = spec.prices_at(dt.datetime(2026, 7, 7, 12, 0, tzinfo=dt.UTC))  # 00:00 NZST
    assert night.import_c == Decimal("20")
    # Saturday 10 January 2026, 08:30 NZDT = 19:30 UTC on the 9th: weekend day rate, summer.
    weekend = spec.prices_at(dt.datetime(2026, 1, 9, 19, 30, tzinfo=dt.UTC))
    assert weekend.import_c == Decimal("30")
    assert weekend.lines_c == 0


def test_overlapping_windows_are_refused_with_where():
    spec = TariffSpec(
        Decimal(100),
        Decimal(10),
        (
            Window("A", "All", T(0), T(12), "All", Decimal(30)),
            Window("B", "Mon", T(11), T(0), "All", Decimal(30)),
        ),
    )
    with pytest.raises(TariffError, match="'A' and 'B' overlap on Mon in Jan at 11:00"):
        spec.validate()


def test_gaps_are_refused_with_where():
    spec = TariffSpec(
        Decimal(100), Decimal(10), (Window("A", "Mon-Sat", T(0), T(0), "All", Decimal(30)),)
    )
    with pytest.raises(TariffError, match="gap: nothing prices Sun in Jan at 00:00"):
        spec.validate()


def test_times_must_be_on_half_hours_and_rates_non_negative():
    with pytest.raises(TariffError, match="not on a half hour"):
        TariffSpec(
            Decimal(1), Decimal(1), (Window("A", "All", T(0, 15), T(0), "All", Decimal(1)),)
        ).validate()
    with pytest.raises(TariffError, match="negative"):
        TariffSpec(
            Decimal(1), Decimal(1), (Window("A", "All", T(0), T(0), "All", Decimal(-1)),)
        ).validate()
