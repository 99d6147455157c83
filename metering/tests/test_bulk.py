"""The PostgreSQL bulk write (metering.services.bulk) compares a batch with the stored readings in
numpy: every rule of readings_upsert, decided half hour by half hour, on a batch that overlaps
what is stored only in part."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection

from coop import nz
from metering.formats.streams import HalfHours
from metering.models import Reading, ReadingRevision
from metering.services.bulk import readings_copy
from metering.signals import readings_corrected

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the bulk path is PostgreSQL's (DATABASE_URL)"
    ),
]

START = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


def batch(icp_pk: int, slots: range, wh: np.ndarray, estimated: np.ndarray) -> HalfHours:
    return HalfHours(
        icps=["x"],
        starts=[START + k * nz.TRADING_PERIOD for k in range(1000)],
        icp=np.zeros(len(slots), np.int32),
        slot=np.array(slots, np.int32),
        import_wh=wh.astype(np.int64),
        export_wh=np.zeros(len(slots), np.int64),
        estimated=estimated,
    )


def test_a_batch_overlapping_stored_readings_in_part(resident, django_capture_on_commit_callbacks):
    icp = resident.icps.get().pk
    pks = np.array([icp])
    # Stored: half hours 0-599, 500 Wh; 0-99 estimated, 100-199 a resident's upload.
    readings_copy(
        half_hours=batch(icp, range(600), np.full(600, 500), np.arange(600) < 100),
        icp_pks=pks,
        source="first",
    )
    Reading.objects.filter(interval_start__gte=START + 100 * nz.TRADING_PERIOD).filter(
        interval_start__lt=START + 200 * nz.TRADING_PERIOD
    ).update(quality=Reading.Quality.UPLOADED)
    # The batch: half hours 50-899. 50-99 real data for estimates; 100-199 an estimate over the
    # upload; 200-299 a correction; 300-349 an estimate over real data (kept as it is); 350-599
    # a repeat; 600-899 new.
    slots = range(50, 900)
    k = np.arange(50, 900)
    wh = np.where((k >= 200) & (k < 300), 700, 500)
    wh = np.where((k >= 300) & (k < 350), 900, wh)
    estimated = ((k >= 100) & (k < 200)) | ((k >= 300) & (k < 350))
    heard = []

    def listener(changes, **_):
        heard.extend(changes)

    readings_corrected.connect(listener, dispatch_uid="test-bulk")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            report = readings_copy(
                half_hours=batch(icp, slots, wh, estimated), icp_pks=pks, source="second"
            )
    finally:
        readings_corrected.disconnect(dispatch_uid="test-bulk")
    assert (
        report.created,
        report.replaced_estimates,
        report.replaced_uploads,
        report.corrected,
        report.unchanged,
    ) == (300, 50, 100, 100, 300)
    stored = {
        round((r.interval_start - START) / nz.TRADING_PERIOD): (r.import_kwh, r.quality, r.source)
        for r in Reading.objects.all()
    }
    assert len(stored) == 900
    assert stored[0] == (Decimal("0.5"), "estimated", "first")  # not in the batch: untouched
    assert stored[60] == (Decimal("0.5"), "actual", "second")
    assert stored[150] == (Decimal("0.5"), "estimated", "second")
    assert stored[250] == (Decimal("0.7"), "actual", "second")
    assert stored[320] == (Decimal("0.5"), "actual", "first")
    assert stored[400] == (Decimal("0.5"), "actual", "first")
    assert stored[700] == (Decimal("0.5"), "actual", "second")
    revisions = ReadingRevision.objects.values_list("quality", "import_kwh", "replaced_by_source")
    assert sorted(set(revisions)) == [
        ("actual", Decimal("0.5"), "second"),
        ("estimated", Decimal("0.5"), "second"),
        ("uploaded", Decimal("0.5"), "second"),
    ]
    assert ReadingRevision.objects.count() == 250
    # The market hears of the estimates replaced and the corrections, not of the uploads.
    assert sorted({(c.was, c.now) for c in heard}) == [
        ("actual", "actual"),
        ("estimated", "actual"),
    ]
    assert len(heard) == 150
