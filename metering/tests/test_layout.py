"""The shape of the app (import-linter checks it has no import cycle): the pure value types agree
with the model, side effects wait for the commit, and a miss is counted in the database."""

import datetime as dt

import pytest

from metering import values
from metering.models import Meter, MeterEvent, Reading
from metering.services import polling
from metering.tasks import poll_meters


def test_the_pure_values_name_the_models_qualities():
    assert values.ACTUAL == Reading.Quality.ACTUAL
    row = values.IntervalEnergy(1, dt.datetime(2026, 7, 8, tzinfo=dt.UTC), values.WH, values.WH)
    assert row.quality == Reading.Quality.ACTUAL


@pytest.mark.django_db
def test_a_miss_is_counted_in_the_database_not_from_a_stale_copy(resident):
    meter = Meter.objects.create(icp=resident.icps.get(), adapter=Meter.Adapter.HTTP)
    Meter.objects.filter(pk=meter.pk).update(consecutive_misses=4)  # another poll's misses
    now = dt.datetime(2026, 7, 8, 2, tzinfo=dt.UTC)
    polling._record_miss(meter, "no answer", now=now)  # `meter` still says 0 misses
    meter.refresh_from_db()
    assert (meter.consecutive_misses, meter.status) == (5, Meter.Status.OFFLINE)
    assert meter.next_poll_at == now + polling.backoff(5)
    assert MeterEvent.objects.filter(meter=meter, kind=MeterEvent.Kind.OFFLINE).count() == 1


@pytest.mark.django_db
def test_batches_are_sent_after_the_commit(resident, django_capture_on_commit_callbacks):
    Meter.objects.create(icp=resident.icps.get(), adapter=Meter.Adapter.FILE)
    with django_capture_on_commit_callbacks() as callbacks:
        assert poll_meters() == 1
    assert len(callbacks) == 1  # one batch, sent (and, eagerly, run) only on commit
