"""readings_upsert over many ICPs at once: an outage's estimates replaced by the real data in
one batch (a retailer's file, a poller catching up), written by ICP and half hour."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from coop import nz
from coop.models import ICP
from metering.models import Reading, ReadingRevision
from metering.services.readings import readings_upsert
from metering.values import IntervalEnergy

pytestmark = pytest.mark.django_db
ACTUAL, ESTIMATED = Reading.Quality.ACTUAL, Reading.Quality.ESTIMATED

START = dt.datetime(2026, 6, 30, 11, 0, tzinfo=dt.UTC)  # 30 June 23:00 NZST: two months
HALF_HOURS = [START + k * nz.TRADING_PERIOD for k in range(4)]


def _icps(count: int) -> list[int]:
    ids = []
    for n in range(count):
        base = f"{8_800_000_000 + n:010d}RU"
        ids.append(
            ICP.objects.create(
                identifier=base + nz.icp_checksum(base),
                address=f"{n} Upsert Road",
                grid_exit_point="PEN0331",
                latitude=Decimal("-36.9"),
                longitude=Decimal("174.81"),
            ).pk
        )
    return ids


def _rows(icps: list[int], kwh: str, quality: str) -> list[IntervalEnergy]:
    return [
        IntervalEnergy(icp, start, Decimal(kwh), Decimal("0.1"), quality)
        for icp in icps
        for start in HALF_HOURS
    ]


def test_an_outages_estimates_are_replaced_in_one_batch_and_kept_as_revisions():
    icps = _icps(60)
    readings_upsert(rows=_rows(icps, "0.5", ESTIMATED), source="estimate")
    # The meters' data for all of them, across a month's end, and one half hour twice in the
    # batch (its second value is a correction of the first).
    again = IntervalEnergy(icps[0], HALF_HOURS[0], Decimal("0.9"), Decimal("0.1"), ACTUAL)
    rows = [*_rows(icps, "1.25", ACTUAL), again]

    with CaptureQueriesContext(connection) as queries:
        report = readings_upsert(rows=rows, source="meter")

    assert (report.created, report.replaced_estimates, report.corrected) == (0, 240, 1)
    stored = {
        (r.icp_id, r.interval_start): (r.import_kwh, r.quality, r.source)
        for r in Reading.objects.filter(icp_id__in=icps)
    }
    assert len(stored) == 240
    assert stored.pop((icps[0], HALF_HOURS[0])) == (Decimal("0.9"), ACTUAL, "meter")
    assert set(stored.values()) == {(Decimal("1.25"), ACTUAL, "meter")}
    revisions = ReadingRevision.objects.values_list("quality", "import_kwh", "replaced_by_source")
    assert sorted(set(revisions)) == [
        (ACTUAL, Decimal("1.25"), "meter"),  # the batch's own first value, corrected
        (ESTIMATED, Decimal("0.5"), "meter"),
    ]
    assert revisions.filter(quality=ESTIMATED).count() == 240
    assert revisions.filter(quality=ACTUAL).count() == 1
    updates = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    if connection.vendor == "postgresql":
        # One statement by ICP and half hour, not a CASE per row and column (bulk_update's).
        assert len(updates) == 1
        assert "CASE" not in updates[0]


def test_a_repeat_of_the_replaced_data_writes_nothing():
    icps = _icps(5)
    readings_upsert(rows=_rows(icps, "0.5", ESTIMATED), source="estimate")
    readings_upsert(rows=_rows(icps, "1.25", ACTUAL), source="meter")
    with CaptureQueriesContext(connection) as queries:
        report = readings_upsert(rows=_rows(icps, "1.25", ACTUAL), source="meter")
    assert (report.unchanged, report.corrected, report.replaced_estimates) == (20, 0, 0)
    assert not [q for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]
