"""The readings table partitioned by NZ month on PostgreSQL (metering.services.partitions), and a
new month loaded whole (metering.services.month_load). SQLite keeps one plain table: these are
PostgreSQL's behaviour, so they run only there (CI sets DATABASE_URL)."""

import datetime as dt
from decimal import Decimal

import numpy as np
import psycopg
import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django_celery_beat.models import PeriodicTask

from coop import nz
from coop.models import ICP
from coop.schedules import install
from metering.formats.streams import HalfHours
from metering.models import Reading, ReadingRevision
from metering.selectors import held_readings
from metering.services import month_load, partitions
from metering.services.bulk import readings_copy
from metering.services.eiep_import import file_import
from metering.services.partitions import month_bounds, partition_name, reading_partitions_ensure
from metering.stopwatch import stages_timed
from metering.tasks import reading_partitions_ahead

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="partitioning is PostgreSQL's; SQLite keeps the readings in one plain table",
)


def month_partitions() -> dict[str, str]:
    """{partition: bound} of the readings table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [partitions.PARENT],
        )
        return dict(cursor.fetchall())


def holder(reading: Reading) -> str:
    """The partition a reading is stored in."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tableoid::regclass::text FROM {partitions.PARENT} WHERE id = %s",
            [reading.pk],
        )
        return cursor.fetchone()[0]


def reading(icp: ICP, at: dt.datetime, kwh: str = "0.5") -> Reading:
    return Reading.objects.create(
        icp=icp, interval_start=at, import_kwh=Decimal(kwh), export_kwh=Decimal(0), source="t"
    )


@pytest.mark.django_db
def test_the_readings_table_is_partitioned_by_range_of_interval_start():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.partstrat, a.attname FROM pg_partitioned_table p JOIN pg_attribute a "
            "ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
            "WHERE p.partrelid = %s::regclass",
            [partitions.PARENT],
        )
        assert cursor.fetchone() == ("r", "interval_start")
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "ORDER BY conname",
            [partitions.PARENT],
        )
        assert [row[0] for row in cursor.fetchall()] == [
            "PRIMARY KEY (id, interval_start)",
            "UNIQUE (icp_id, interval_start)",
        ]
    assert month_partitions()[partitions.DEFAULT] == "DEFAULT"


@pytest.mark.django_db
def test_ensure_makes_the_nz_months_asked_once():
    made = reading_partitions_ensure(
        first=dt.datetime(2019, 4, 10, tzinfo=dt.UTC), last=dt.datetime(2019, 6, 2, tzinfo=dt.UTC)
    )
    assert made == [
        "metering_reading_2019_04",
        "metering_reading_2019_05",
        "metering_reading_2019_06",
    ]
    # NZ months: April 2019 began at NZDT midnight (+13), May at NZST midnight (+12).
    assert month_partitions()["metering_reading_2019_04"] == (
        "FOR VALUES FROM ('2019-03-31 11:00:00+00') TO ('2019-04-30 12:00:00+00')"
    )
    again = reading_partitions_ensure(
        first=dt.datetime(2019, 4, 1, tzinfo=dt.UTC), last=dt.datetime(2019, 6, 30, tzinfo=dt.UTC)
    )
    assert again == []
    # 1 April 2019 00:30 UTC is still March in NZ (13:30 NZDT): March is made, not April again.
    assert reading_partitions_ensure(
        first=dt.datetime(2019, 3, 31, 10, 59, tzinfo=dt.UTC),
        last=dt.datetime(2019, 3, 31, 11, 0, tzinfo=dt.UTC),
    ) == ["metering_reading_2019_03"]


@pytest.mark.django_db
def test_an_orm_reading_at_any_date_is_stored_and_moves_when_its_month_is_made(resident):
    icp = resident.icps.get()
    # 23:30 NZDT on 31 December 1999 (an hour later would be January 2000 in NZ).
    odd = [dt.datetime(1999, 12, 31, 10, 30, tzinfo=dt.UTC), dt.datetime(2099, 1, 1, tzinfo=dt.UTC)]
    early, late = (reading(icp, at) for at in odd)
    ReadingRevision.objects.create(
        reading=early,
        import_kwh=1,
        export_kwh=0,
        quality="actual",
        source="s",
        replaced_by_source="t",
    )
    assert holder(early) == holder(late) == partitions.DEFAULT
    assert reading_partitions_ensure(first=odd[0], last=odd[0]) == ["metering_reading_1999_12"]
    assert holder(early) == "metering_reading_1999_12"
    assert holder(late) == partitions.DEFAULT
    early.refresh_from_db()  # the same row, id and all, with its revision
    assert early.import_kwh == Decimal("0.5")
    assert early.revisions.get().import_kwh == Decimal(1)


@pytest.mark.django_db
def test_a_detached_month_is_not_silently_replaced(resident):
    reading_partitions_ensure(
        first=dt.datetime(2020, 2, 10, tzinfo=dt.UTC), last=dt.datetime(2020, 2, 10, tzinfo=dt.UTC)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {partitions.PARENT} DETACH PARTITION metering_reading_2020_02")
    with pytest.raises(partitions.PartitionDetached, match="metering_reading_2020_02 exist but"):
        reading_partitions_ensure(
            first=dt.datetime(2020, 2, 10, tzinfo=dt.UTC),
            last=dt.datetime(2020, 2, 10, tzinfo=dt.UTC),
        )


@pytest.mark.django_db
def test_the_beat_task_makes_this_month_and_three_ahead():
    made = reading_partitions_ahead()
    month = partitions.month_of(dt.datetime.now(dt.UTC))
    wanted = []
    for _ in range(4):
        wanted.append(partition_name(month))
        month = partitions.next_month(month)
    assert made == wanted
    assert set(wanted) <= set(month_partitions())
    assert reading_partitions_ahead() == []  # run twice: nothing more
    install()
    task = PeriodicTask.objects.get(task="metering.tasks.reading_partitions_ahead")
    assert (task.interval.every, task.interval.period) == (86_400, "seconds")


@pytest.mark.django_db
def test_a_2019_file_imports_into_its_month(shared_data):
    for identifier in ("0000638109TRE20", "0000847108TRBAA"):
        ICP.objects.create(
            identifier=identifier,
            address="Sample",
            grid_exit_point="PEN0331",
            latitude=Decimal("-36.9"),
            longitude=Decimal("174.8"),
        )
    text = (shared_data / "metering" / "ourenergy_eiep3-valid.txt").read_text()
    text = text.replace("XXXXXXXXXXXXXXX", "0000638109TRE20").replace(
        "AAAAAAAAAAAAAAA", "0000847108TRBAA"
    )
    result = file_import(text=text, source="2019.txt")
    assert result.readings > 0
    stored = Reading.objects.all()
    assert stored.count() == result.readings
    assert {holder(r) for r in stored} == {"metering_reading_2019_04"}


@pytest.mark.django_db
def test_the_icp_month_query_of_the_energy_page_reads_one_partition(resident):
    icp = resident.icps.get()
    reading_partitions_ensure(
        first=dt.datetime(2026, 5, 1, tzinfo=dt.UTC), last=dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
    )
    june = dt.date(2026, 6, 1)
    start, end = month_bounds(june)
    reading(icp, start)
    reading(icp, end - nz.TRADING_PERIOD)
    reading(icp, end)  # July's first half hour
    rows = held_readings(resident, start, end)
    assert len(rows) == 2
    plan = rows.explain()
    scanned = {
        word for word in plan.replace("(", " ").split() if word.startswith("metering_reading_")
    }
    tables = {name for name in scanned if not name.endswith(("_key", "_idx", "_pkey"))}
    assert tables == {"metering_reading_2026_06"}, plan


def half_hours(icp_pks: list[int], month: dt.date, count: int, kwh: int = 250) -> HalfHours:
    start = month_bounds(month)[0]
    starts = [start + k * nz.TRADING_PERIOD for k in range(count)]
    icp = np.repeat(np.arange(len(icp_pks), dtype=np.int32), count)
    slot = np.tile(np.arange(count, dtype=np.int32), len(icp_pks))
    n = len(icp)
    return HalfHours(
        icps=[str(pk) for pk in icp_pks],
        starts=starts,
        icp=icp,
        slot=slot,
        import_wh=np.full(n, kwh, np.int64),
        export_wh=np.zeros(n, np.int64),
        estimated=(slot % 7 == 3),
    )


def partition_oid(month: dt.date) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)::oid", [partition_name(month)])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_the_copy_writes_kwh_exactly(resident):
    """Binary numeric(12, 3), built in numpy: the awkward values of each base-10000 digit."""
    icp = resident.icps.get()
    values = [0, 1, 999, 1000, 1500, 9_999_999, 10_000_000, 123_456_789_012, 999_999_999_999]
    batch = half_hours([icp.pk], dt.date(2026, 3, 1), len(values))
    batch = HalfHours(
        **{
            **batch.__dict__,
            "import_wh": np.array(values, np.int64),
            "export_wh": np.array(values[::-1], np.int64),
        }
    )
    readings_copy(half_hours=batch, icp_pks=np.array([icp.pk]), source="exact")
    stored = list(
        Reading.objects.order_by("interval_start").values_list("import_kwh", "export_kwh")
    )
    assert stored == [
        (Decimal(v) / 1000, Decimal(w) / 1000) for v, w in zip(values, values[::-1], strict=True)
    ]


@pytest.mark.django_db
def test_a_big_batch_for_an_empty_month_is_loaded_whole(resident, other_resident, monkeypatch):
    monkeypatch.setattr(month_load, "MIN_ROWS", 500)
    icps = [resident.icps.get().pk, other_resident.icps.get().pk]
    june = dt.date(2026, 6, 1)
    reading_partitions_ensure(first=month_bounds(june)[0], last=month_bounds(june)[0])
    before = partition_oid(june)
    report = readings_copy(
        half_hours=half_hours(icps, june, 300), icp_pks=np.array(icps), source="june"
    )
    assert report.created == 600
    assert partition_oid(june) != before  # a new table in the month's place
    assert month_partitions()[partition_name(june)].startswith("FOR VALUES FROM ('2026-05-31 12:00")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY 1",
            [partition_name(june)],
        )
        assert [row[0] for row in cursor.fetchall()] == [
            "metering_reading_2026_06_icp_id_interval_start_key",
            "metering_reading_2026_06_interval_start_idx",
            "metering_reading_2026_06_pkey",
        ]
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'c'",
            [partition_name(june)],
        )
        assert cursor.fetchone()[0] == 0  # the bounds check it was attached with is gone
    june_rows = Reading.objects.filter(interval_start__gte=month_bounds(june)[0])
    assert june_rows.count() == 600
    assert set(june_rows.values_list("quality", "source")) == {
        ("actual", "june"),
        ("estimated", "june"),
    }
    # The month behaves as any other: a repeat changes nothing, an ORM write gets a fresh id.
    again = readings_copy(
        half_hours=half_hours(icps, june, 300), icp_pks=np.array(icps), source="june"
    )
    assert (again.created, again.unchanged) == (0, 600)
    extra = reading(Reading.objects.first().icp, month_bounds(june)[0] + 400 * nz.TRADING_PERIOD)
    assert extra.pk not in set(june_rows.exclude(pk=extra.pk).values_list("pk", flat=True))


@pytest.mark.django_db
def test_a_month_with_readings_is_written_the_ordinary_way(resident, other_resident, monkeypatch):
    monkeypatch.setattr(month_load, "MIN_ROWS", 500)
    june = dt.date(2026, 6, 1)
    reading_partitions_ensure(first=month_bounds(june)[0], last=month_bounds(june)[0])
    reading(other_resident.icps.get(), month_bounds(june)[0])
    before = partition_oid(june)
    icp = resident.icps.get().pk
    report = readings_copy(
        half_hours=half_hours([icp], june, 600), icp_pks=np.array([icp]), source="j"
    )
    assert report.created == 600
    assert partition_oid(june) == before
    assert Reading.objects.count() == 601


@pytest.mark.django_db(transaction=True)
def test_a_month_someone_else_is_writing_is_not_swapped(resident, monkeypatch):
    """Another connection holds the month as a writer does: the load steps aside."""
    monkeypatch.setattr(month_load, "MIN_ROWS", 500)
    june = dt.date(2026, 6, 1)
    reading_partitions_ensure(first=month_bounds(june)[0], last=month_bounds(june)[0])
    before = partition_oid(june)
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        password=settings["PASSWORD"] or None,
        autocommit=True,
    ) as other:
        other.execute(
            "SELECT pg_advisory_lock_shared(%s, %s)",
            [partitions.MONTH_LOCK_CLASS, partitions.month_key(june)],
        )
        icp = resident.icps.get().pk
        with transaction.atomic():
            report = readings_copy(
                half_hours=half_hours([icp], june, 600), icp_pks=np.array([icp]), source="j"
            )
    assert report.created == 600
    assert partition_oid(june) == before
    assert Reading.objects.count() == 600


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_the_rows_of_an_unpartitioned_table(resident):
    """Back to the plain table, rows in it, then partitioned again: every row (ids too) kept,
    each in its NZ month, and new ids carry on after the old."""
    executor = MigrationExecutor(connection)
    executor.migrate([("metering", "0007_dispatch_storage_state")])
    icp = resident.icps.get().pk
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_partitioned_table")
            assert cursor.fetchone()[0] == 0
            cursor.execute(
                "INSERT INTO metering_reading (id, interval_start, import_kwh, export_kwh, quality, "
                "source, received_at, icp_id) VALUES (41, '2026-03-31 10:30+00', 1.5, 0, 'actual', "
                "'old', now(), %s), (42, '2026-03-31 11:00+00', 2.5, 0, 'actual', 'old', now(), %s)",
                [icp, icp],
            )
            cursor.execute(
                "INSERT INTO metering_readingrevision (reading_id, import_kwh, export_kwh, quality, "
                "source, replaced_at, replaced_by_source) VALUES (42, 2, 0, 'actual', 'a', now(), 'old')"
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert {r.pk: holder(r) for r in Reading.objects.all()} == {
        41: "metering_reading_2026_03",  # 23:30 NZDT on 31 March
        42: "metering_reading_2026_04",  # 00:00 NZDT on 1 April
    }
    assert ReadingRevision.objects.get().reading.import_kwh == Decimal("2.5")
    assert reading(Reading.objects.first().icp, dt.datetime(2026, 4, 2, tzinfo=dt.UTC)).pk == 43


@pytest.mark.django_db
def test_a_month_load_times_its_copy_indexes_and_swap(resident, monkeypatch):
    """The bench's stage profile splits the load: what PostgreSQL spends on the rows, on the
    index builds (one parallel worker) and on the swap."""
    monkeypatch.setattr(month_load, "MIN_ROWS", 500)
    june = dt.date(2026, 6, 1)
    reading_partitions_ensure(first=month_bounds(june)[0], last=month_bounds(june)[0])
    icp = resident.icps.get().pk
    with stages_timed() as stages:
        report = readings_copy(
            half_hours=half_hours([icp], june, 600), icp_pks=np.array([icp]), source="j"
        )
    assert report.created == 600
    month_stages = [stage for stage in stages if stage.startswith("month")]
    assert month_stages == ["month copy", "month indexes", "month swap"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_maintenance_workers")
        assert cursor.fetchone()[0] == "1"  # SET LOCAL: for this transaction only
