import datetime as dt
from decimal import Decimal

import pytest

from metering.registers import (
    PowerReading,
    RegisterError,
    Sample,
    energy_by_half_hour,
    integrate,
    register_delta,
    slices,
)

T0 = dt.datetime(2026, 7, 8, 0, 20, tzinfo=dt.UTC)
D = Decimal


def test_a_span_is_split_across_half_hours_in_proportion_to_time():
    start = T0 + dt.timedelta(minutes=8)  # 00:28 to 00:32
    parts = slices(
        Sample(start, D("100"), D("5")),
        Sample(start + dt.timedelta(minutes=4), D("100.4"), D("5.2")),
        max_kw=D(15),
    )
    assert [(p.interval_start.minute, p.import_kwh, p.export_kwh, p.seconds) for p in parts] == [
        (0, D("0.2"), D("0.1"), 120),
        (30, D("0.2"), D("0.1"), 120),
    ]
    assert not any(p.estimated for p in parts)


def test_rollover_reset_and_impossible_jumps():
    assert register_delta(D("99999.5"), D("0.5"), D("100000")) == (D("1.0"), "rollover")
    assert register_delta(D("1234"), D("2"), D("100000")) == (D("2"), "reset")
    with pytest.raises(RegisterError, match="more than a 15 kW connection"):
        slices(
            Sample(T0, D(0), D(0)), Sample(T0 + dt.timedelta(minutes=1), D(5), D(0)), max_kw=D(15)
        )
    with pytest.raises(RegisterError, match="not after"):
        slices(Sample(T0, D(0), D(0)), Sample(T0, D(1), D(0)), max_kw=D(15))


def test_gaps_are_bridged_by_a_flagged_estimate():
    parts = slices(
        Sample(T0, D(0), D(0)), Sample(T0 + dt.timedelta(hours=2), D(6), D(0)), max_kw=D(15)
    )
    assert len(parts) == 5
    assert all(p.estimated for p in parts)
    assert sum(p.import_kwh for p in parts) == D(6)


def test_power_readings_integrate_to_registers():
    start = Sample(T0, D("10"), D("5"))
    importing = integrate(start, PowerReading(T0 + dt.timedelta(minutes=6), D(2000)), max_kw=D(15))
    assert (importing.import_kwh, importing.export_kwh) == (D("10.2"), D("5"))
    exporting = integrate(
        importing, PowerReading(T0 + dt.timedelta(minutes=12), D(-3000)), max_kw=D(15)
    )
    assert (exporting.import_kwh, exporting.export_kwh) == (D("10.2"), D("5.3"))
    with pytest.raises(RegisterError, match="must arrive in order"):
        integrate(exporting, PowerReading(T0 + dt.timedelta(minutes=9), D(1)), max_kw=D(15))
    with pytest.raises(RegisterError, match="more than a 15 kW connection"):
        integrate(start, PowerReading(T0 + dt.timedelta(minutes=1), D(-20000)), max_kw=D(15))


def test_energy_by_half_hour_sums_spans_and_skips_restarts():
    t0 = dt.datetime(2026, 7, 8, 0, 0, tzinfo=dt.UTC)
    samples = [
        Sample(t0 + dt.timedelta(minutes=m), D(r), D(0), restart=m == 40)
        for m, r in ((0, "0"), (10, "1"), (20, "2"), (30, "3"), (40, "500"), (50, "501"))
    ]
    halves = energy_by_half_hour(samples, max_kw=D(15))
    first, second = halves[t0], halves[t0 + dt.timedelta(minutes=30)]
    assert (first.import_kwh, first.seconds, first.estimated) == (D(3), D(1800), True)
    # 30-40 counted nothing (the restart); 40-50 one kWh: 20 of 30 minutes covered.
    assert (second.import_kwh, second.seconds) == (D(1), D(600))
