"""Metering tells the market which stored readings changed (metering.signals.readings_corrected),
after the commit: corrections and estimates replaced, never new half hours, repeats, or a
resident's upload replaced; the PostgreSQL bulk path says the same as the ORM one."""

import datetime as dt
import os
from decimal import Decimal

import pytest
from django.db import connection, transaction

from coop import nz
from metering.models import Reading
from metering.services.eiep_import import BULK_MIN_HALF_HOURS, file_import
from metering.services.readings import readings_upsert
from metering.signals import ReadingChange, readings_corrected
from metering.values import IntervalEnergy

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 6, 1)
ZERO = Decimal(0)
POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


@pytest.fixture
def heard():
    """Every `changes` the signal was sent with, with its source."""
    calls = []

    def listener(sender, changes, source, **kwargs):
        calls.append((source, sorted(changes, key=lambda c: (c.interval_start, c.icp_id))))

    readings_corrected.connect(listener, dispatch_uid="test-listener")
    yield calls
    readings_corrected.disconnect(dispatch_uid="test-listener")


def tp(n: int, day: dt.date = DAY) -> dt.datetime:
    return nz.trading_period_start(day, n)


def test_only_changed_readings_are_sent_and_only_after_the_commit(
    resident, heard, django_capture_on_commit_callbacks
):
    icp = resident.icps.get().pk
    with django_capture_on_commit_callbacks(execute=True):
        readings_upsert(
            source="meter",
            rows=[
                IntervalEnergy(icp, tp(1), Decimal("0.5"), ZERO),
                IntervalEnergy(icp, tp(2), Decimal("0.4"), ZERO, "estimated"),
                IntervalEnergy(icp, tp(3), Decimal("0.3"), ZERO, "uploaded"),
            ],
        )
    assert heard == []  # new half hours only
    with django_capture_on_commit_callbacks(execute=True):
        readings_upsert(
            source="admin",
            rows=[
                IntervalEnergy(icp, tp(1), Decimal("0.6"), ZERO),  # corrected
                IntervalEnergy(icp, tp(2), Decimal("0.4"), ZERO),  # estimate -> actual
                IntervalEnergy(icp, tp(3), Decimal("0.3"), ZERO),  # an upload replaced
                IntervalEnergy(icp, tp(4), Decimal("0.2"), ZERO),  # new
            ],
        )
        readings_upsert(  # a repeat, and an estimate that never replaces real data
            source="estimate",
            rows=[
                IntervalEnergy(icp, tp(4), Decimal("0.2"), ZERO),
                IntervalEnergy(icp, tp(1), Decimal("0.1"), ZERO, "estimated"),
            ],
        )
        assert heard == []  # not before the commit
    assert heard == [
        (
            "admin",
            [
                ReadingChange(icp, tp(1), "actual", "actual"),
                ReadingChange(icp, tp(2), "estimated", "actual"),
            ],
        )
    ]


def test_nothing_is_sent_for_a_write_that_rolls_back(
    resident, heard, django_capture_on_commit_callbacks
):
    icp = resident.icps.get().pk
    readings_upsert(source="meter", rows=[IntervalEnergy(icp, tp(1), Decimal("0.5"), ZERO)])

    def failing_import():
        with transaction.atomic():
            readings_upsert(source="admin", rows=[IntervalEnergy(icp, tp(1), Decimal("0.6"), ZERO)])
            raise RuntimeError("the import failed later")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        failing_import()
    assert heard == []
    assert Reading.objects.get().import_kwh == Decimal("0.500")


def _det(icp: str, day: dt.date, n: int, kwh: str, kind: str = "F") -> str:
    return f"DET,{icp},S1,{kind},{day:%d/%m/%Y},{n},{kwh},null,null,X,null"


def _file(lines: list[str]) -> str:
    header = f"HDR,ICPHH,10.0,SNDR,SNDR,RCPT,09/07/2026,10:00:00,1,{len(lines)},202606,E,I"
    return "\n".join([header, *lines])


@pytest.mark.skipif(not POSTGRES, reason="the bulk path is PostgreSQL's (DATABASE_URL)")
def test_the_bulk_path_sends_the_half_hours_it_changed(
    resident, heard, django_capture_on_commit_callbacks
):
    assert connection.vendor == "postgresql"
    icp = resident.icps.get()
    days = [DAY + dt.timedelta(days=d) for d in range(25)]
    # A resident's upload first: the admin's file replaces it, which is not a correction.
    file_import(
        text=_file([_det(icp.identifier, DAY, 4, "0.500")]),
        source="upload:resident",
        member=resident,
    )
    lines = [
        _det(icp.identifier, d, n, "0.250", kind="E" if (d, n) == (DAY, 3) else "F")
        for d in days
        for n in range(1, 49)
    ]
    assert len(lines) >= BULK_MIN_HALF_HOURS
    with django_capture_on_commit_callbacks(execute=True):
        file_import(text=_file(lines), source="admin:first")
    assert heard == []  # new half hours, and an upload replaced
    lines[0] = _det(icp.identifier, DAY, 1, "0.300")  # corrected
    lines[1] = _det(icp.identifier, DAY, 2, "0.100", kind="E")  # refused: over an actual
    lines[2] = _det(icp.identifier, DAY, 3, "0.250")  # the estimate is now an actual
    with django_capture_on_commit_callbacks(execute=True):
        result = file_import(text=_file(lines), source="admin:fix")
    assert result.changed == 2
    assert heard == [
        (
            "admin:fix",
            [
                ReadingChange(icp.pk, tp(1), "actual", "actual"),
                ReadingChange(icp.pk, tp(3), "estimated", "actual"),
            ],
        )
    ]
    # The same file again changes nothing, and says nothing.
    with django_capture_on_commit_callbacks(execute=True):
        file_import(text=_file(lines), source="admin:fix")
    assert len(heard) == 1
