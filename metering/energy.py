"""The resident's Energy page figures: their readings (metering.selectors) and, where a meter
sees only the grid connection, the PV the household model estimates (metering.houses). Reads
only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from coop import nz
from coop.models import Member
from metering import selectors
from metering.models import Reading

# How finely a series is summed: each half hour, each NZ trading day, each NZ month.
Step = Literal["half_hour", "day", "month"]


def nz_clock(key: dt.date | dt.datetime) -> str:
    """A chart's x value: NZ local clock time without an offset ("2026-12-01 13:30"), or the
    NZ date ("2026-12-01") of a day or month. A browser draws an offset-free time as it reads,
    so the chart shows NZ time whatever the browser's zone (as network.js does)."""
    if isinstance(key, dt.datetime):
        return key.astimezone(nz.NZ).strftime("%Y-%m-%d %H:%M")
    return key.isoformat()


def energy_series(
    member: Member, start: dt.date, end: dt.date, *, by: Step = "half_hour"
) -> list[dict[str, Any]]:
    """The member's import, export, generation and consumption by half hour, NZ day or NZ
    month (`by`), summed over their ICPs, from local date `start` to `end` inclusive.

    `start` is the UTC start of a half hour, or the NZ date of a day or of a month's first day;
    `x` is the same moment as NZ clock time for the chart (`nz_clock`).

    Generation and consumption come from the simulated or measured PV where the meter reports
    it; from a grid meter alone only import and export are known, so generation is what the
    household model estimates for the ICP's PV and consumption is import - export + generation.
    """
    # Start-up cost: the household model loads pvlib and pandas (about half a second), which
    # no process needs until someone opens this page.
    from metering.houses import estimated_generation

    start_utc = nz.trading_day_start(start)
    end_utc = nz.trading_day_start(end + dt.timedelta(days=1))
    generation = estimated_generation(selectors.icps_with_assets(member), start_utc, end_utc)
    rows: dict[dt.date | dt.datetime, dict[str, Any]] = {}
    for when, imp, exp, quality, icp_id in selectors.held_readings(member, start_utc, end_utc):
        key: dt.date | dt.datetime = when
        if by != "half_hour":
            key = nz.trading_period_of(when)[0]
            if by == "month":
                key = key.replace(day=1)
        row = rows.setdefault(
            key,
            {
                "start": key,
                "x": nz_clock(key),
                "import": Decimal(0),
                "export": Decimal(0),
                "generation": Decimal(0),
                "consumption": Decimal(0),
                "estimated": False,
            },
        )
        gen = generation.get((icp_id, when), Decimal(0))
        row["import"] += imp
        row["export"] += exp
        row["generation"] += gen
        row["consumption"] += imp - exp + gen
        row["estimated"] |= quality != Reading.Quality.ACTUAL
    return list(rows.values())
