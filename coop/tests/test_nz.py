import csv
import datetime as dt
import itertools

import pytest

from coop import nz


def test_checksums_match_the_published_vectors(shared_data):
    rows = list(csv.DictReader((shared_data / "reference/icp_checksum_test_vectors.csv").open()))
    assert rows
    for row in rows:
        assert nz.icp_checksum(row["icp_base"]) == row["checksum"]
        assert nz.is_valid_icp(row["icp"])


def test_known_icp_and_wrong_checksum_message():
    assert nz.icp_checksum("0000638109TR") == "E20"
    with pytest.raises(nz.InvalidICP, match=r"wrong checksum.*against the power bill") as err:
        nz.validate_icp("0000638109TRE21")
    assert "E20" not in str(err.value)


@pytest.mark.parametrize(
    "bad", ["", "0000638109TRE2", "0000638109tre20", "000063810XTRE20", "0000638109T1E20"]
)
def test_malformed_icps_are_refused(bad):
    assert not nz.is_valid_icp(bad)
    with pytest.raises(nz.InvalidICP, match="not an ICP"):
        nz.validate_icp(bad)


def _dst_days(year: int) -> tuple[dt.date, dt.date]:
    """Last Sunday of September (starts) and first Sunday of April (ends)."""
    start = max(dt.date(year, 9, d) for d in range(1, 31) if dt.date(year, 9, d).weekday() == 6)
    end = min(dt.date(year, 4, d) for d in range(1, 8) if dt.date(year, 4, d).weekday() == 6)
    return start, end


@pytest.mark.parametrize("year", range(2015, 2031))
def test_daylight_saving_days_have_46_and_50_periods(year):
    starts, ends = _dst_days(year)
    for day, count in ((starts, 46), (ends, 50), (starts - dt.timedelta(days=1), 48)):
        periods = nz.trading_periods(day)
        assert len(periods) == count
        assert [p[0] for p in periods] == list(range(1, count + 1))
        # Contiguous half hours in UTC from local midnight to the next local midnight.
        assert periods[0][1] == dt.datetime.combine(day, dt.time(0), nz.NZ).astimezone(dt.UTC)
        for (_, start, end), (_, next_start, _) in itertools.pairwise(periods):
            assert end - start == dt.timedelta(minutes=30)
            assert end == next_start
        assert periods[-1][2] == nz.trading_day_start(day + dt.timedelta(days=1))
        for n, start, _ in periods:
            assert nz.trading_period_of(start) == (day, n)
            assert nz.trading_period_of(start + dt.timedelta(minutes=29)) == (day, n)


def test_the_repeated_hour_is_two_trading_periods():
    # 2026-04-05: 02:00-03:00 NZDT then 02:00-03:00 NZST again; TPs 5-6 and 7-8.
    first = dt.datetime(2026, 4, 4, 13, 0, tzinfo=dt.UTC)  # 02:00 NZDT
    second = dt.datetime(2026, 4, 4, 14, 0, tzinfo=dt.UTC)  # 02:00 NZST
    assert nz.trading_period_of(first) == (dt.date(2026, 4, 5), 5)
    assert nz.trading_period_of(second) == (dt.date(2026, 4, 5), 7)
    assert nz.trading_period_start(dt.date(2026, 4, 5), 50) == dt.datetime(
        2026, 4, 5, 11, 30, tzinfo=dt.UTC
    )


def test_trading_period_out_of_range():
    with pytest.raises(ValueError, match="48 trading periods, not 49"):
        nz.trading_period_start(dt.date(2026, 7, 8), 49)
    with pytest.raises(ValueError, match="aware"):
        nz.trading_period_of(dt.datetime(2026, 7, 8, 12, 0))  # noqa: DTZ001  (naive on purpose)


def test_gst():
    from decimal import Decimal

    assert nz.add_gst(Decimal("10")) == Decimal("11.50")
    assert nz.remove_gst(Decimal("11.5")) == Decimal("10")
    assert nz.gst_component(Decimal("115.00")) == Decimal("15.00")
    assert nz.dollars_per_mwh_to_cents_per_kwh(Decimal("78.24")) == Decimal("7.824")
