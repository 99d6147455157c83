"""EIEP3 and EIEP13A: the real sample files, the v11 mess, bad input refused whole, round trips."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import ProtectedError
from django.utils import timezone

from coop import nz, services
from coop.models import Battery, PVSystem
from metering import selectors
from metering.formats import eiep3, eiep13a
from metering.formats.eiep3 import EIEPError
from metering.models import MeterEvent, Reading, ReadingRevision
from metering.selectors import eiep3_export
from metering.services.eiep_import import file_import
from metering.services.readings import readings_estimate_missing, readings_upsert
from metering.values import IntervalEnergy

ZERO = Decimal(0)

# The sample files' ICPs are anonymised; these stand in for them.
ANON = {"XXXXXXXXXXXXXXX": "0000638109TRE20", "AAAAAAAAAAAAAAA": "0000847108TRBAA"}


def sample(shared_data, name: str) -> str:
    text = (shared_data / "metering" / name).read_text()
    for anon, real in ANON.items():
        text = text.replace(anon, real)
    return text


def test_v10_sample_parses_every_row(shared_data):
    parsed = eiep3.parse(sample(shared_data, "ourenergy_eiep3-valid.txt"))
    assert parsed.header.version == "10.0"
    assert parsed.header.file_status == "I"
    assert len(parsed.records) == 96
    assert not parsed.warnings
    first = parsed.records[0]
    assert (first.date, first.period, first.kwh, first.flow) == (
        dt.date(2019, 4, 19),
        1,
        Decimal("0.44"),
        "X",
    )
    # 19 April 2019 is NZST: TP1 starts at 12:00 UTC the day before.
    assert first.interval_start == dt.datetime(2019, 4, 18, 12, 0, tzinfo=dt.UTC)


def test_v11_scaled_duplicates_are_reported_not_double_counted(shared_data):
    parsed = eiep3.parse(sample(shared_data, "ourenergy_eiep3-valid-v11.txt"))
    assert parsed.header.record_count == 312
    assert len(parsed.records) == 156
    assert len(parsed.warnings) == 156
    assert all(r.kwh < 10 for r in parsed.records)  # the kWh copies were kept
    assert "scaled by 1000" in parsed.warnings[0]


def test_the_anonymised_files_are_refused_with_line_numbers(shared_data):
    with pytest.raises(EIEPError) as err:
        eiep3.parse((shared_data / "metering/ourenergy_eiep3-valid.txt").read_text())
    assert err.value.errors[0].startswith("line 2: 'XXXXXXXXXXXXXXX' is not an ICP")


GOOD = "0000638109TRE20"


def det(date="08/07/2026", tp="1", kwh="0.500", icp=GOOD, flow="X", kind="F"):
    return f"DET,{icp},S1,{kind},{date},{tp},{kwh},null,null,{flow},null"


def file(*lines, count=None):
    n = len(lines) if count is None else count
    return "\n".join(
        [f"HDR,ICPHH,10.0,SNDR,SNDR,RCPT,09/07/2026,10:00:00,1,{n},202607,E,I", *lines]
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (det(tp="49"), "line 3: trading period '49' is out of range: 08/07/2026 has 48"),
        (det(date="05/04/2026", tp="51"), "has 50 trading periods"),
        (det(date="27/09/2026", tp="47"), "has 46 trading periods"),
        (det(icp="0000638109TRE21"), "line 3: ICP 0000638109TRE21 has a wrong checksum"),
        (det(kwh="-0.1"), "cannot be negative"),
        (det(kwh="5000"), "not a plausible half-hour reading"),
        (det(kwh="0.1234"), "line 3: active energy 0.1234 kWh has more than 3 decimal places"),
        (det(kwh="NaN"), "is not a number"),
        (det(kwh="1e2"), "not a plausible half-hour reading"),
        (det(kwh="abc"), "not a number"),
        (det(flow="Q"), "flow direction"),
        ("DET,too,few", "11 fields"),
        (det(date="31/02/2026"), "not dd/mm/yyyy"),
    ],
)
def test_bad_lines_refuse_the_whole_file(line, message):
    with pytest.raises(EIEPError) as err:
        eiep3.parse(file(det(tp="2"), line))
    assert any(message in e for e in err.value.errors), err.value.errors


def test_fifty_periods_on_the_day_daylight_saving_ends():
    parsed = eiep3.parse(file(*(det(date="05/04/2026", tp=str(n)) for n in range(1, 51))))
    starts = [r.interval_start for r in parsed.records]
    assert len(set(starts)) == 50
    assert starts[-1] == nz.trading_period_start(dt.date(2026, 4, 5), 50)


def test_header_count_and_conflicting_repeats():
    with pytest.raises(EIEPError, match="header says 5 records but the file has 1"):
        eiep3.parse(file(det(), count=5))
    with pytest.raises(EIEPError, match="repeats line 2 with a different value"):
        eiep3.parse(file(det(kwh="0.5"), det(kwh="0.7")))
    # A zero has no Wh-as-kWh copy but zero: 0.300 beside it is a conflict, not a scaled copy.
    with pytest.raises(EIEPError, match=r"line 3: .* repeats line 2 with a different value"):
        eiep3.parse(file(det(kwh="0.000"), det(kwh="0.300")))
    scaled = eiep3.parse(file(det(kwh="0.228"), det(kwh="228.000")))
    assert [r.kwh for r in scaled.records] == [Decimal("0.228")]
    assert scaled.warnings == [
        "line 3: 0000638109TRE20 TP1 on 08/07/2026 repeats line 2 scaled by 1000 (228.000); "
        "counted once, as kWh"
    ]


def test_write_then_parse_round_trips_exactly():
    records = eiep3.parse(file(*(det(tp=str(n), kwh=f"{n / 7:.3f}") for n in range(1, 49)))).records
    for version in ("10.0", "11.0"):
        again = eiep3.parse(eiep3.write(records, version=version)).records
        assert [(r.icp, r.interval_start, r.kwh, r.flow) for r in again] == [
            (r.icp, r.interval_start, r.kwh, r.flow) for r in records
        ]
    assert eiep3.file_name("SNDR", "RCPT", "202607", dt.date(2026, 7, 9), "1") == (
        "SNDR_E_RCPT_ICPHH_202607_20260709_1.txt"
    )


def test_eiep13a_round_trip_across_the_repeated_hour():
    day = dt.date(2026, 4, 5)
    records = [
        eiep3.Record(0, GOOD, "M1:UN", "F", day, n, start, Decimal(n) / 100, "X", "")
        for n, start, _ in nz.trading_periods(day)
    ]
    text = eiep13a.write(records)
    assert ",NZDT," in text
    assert ",NZST," in text
    assert ":01," in text
    parsed = eiep13a.parse(text)
    assert [(r.period, r.interval_start, r.kwh) for r in parsed] == [
        (r.period, r.interval_start, r.kwh) for r in records
    ]
    # Without the adjustment column the file order decides the repeated hour.
    blank = "\n".join(
        line.replace(",NZDT,", ",,").replace(",NZST,", ",,") for line in text.splitlines()
    )
    assert [r.interval_start for r in eiep13a.parse(blank)] == [r.interval_start for r in records]


def test_eiep13a_bad_input():
    good = eiep13a.write(
        [
            eiep3.Record(
                0,
                GOOD,
                "M1:UN",
                "F",
                dt.date(2026, 7, 8),
                1,
                dt.datetime(2026, 7, 7, 12, tzinfo=dt.UTC),
                Decimal("0.3"),
                "X",
                "",
            )
        ]
    )
    with pytest.raises(EIEPError, match=r"line 2: .*does not exist in NZ time"):
        eiep13a.parse(good.replace("08/07/2026 00:00:01", "27/09/2026 02:00:01"))
    with pytest.raises(EIEPError, match="read status"):
        eiep13a.parse(good.replace(",RD,", ",XX,"))


@pytest.mark.django_db
class TestImport:
    def icps(self, resident, other_resident):
        return resident.icps.get().identifier, other_resident.icps.get().identifier

    def test_import_sums_streams_and_is_idempotent(self, resident, other_resident):
        mine, _ = self.icps(resident, other_resident)
        text = file(
            det(icp=mine, kwh="0.4"),
            det(icp=mine, kwh="0.1", flow="I"),
            det(icp=mine, tp="2", kwh="0.2", kind="E"),
        )
        result = file_import(text=text, source="upload")
        assert result.readings == 2
        first = Reading.objects.get(interval_start=nz.trading_period_start(dt.date(2026, 7, 8), 1))
        assert (first.import_kwh, first.export_kwh, first.quality) == (
            Decimal("0.4"),
            Decimal("0.1"),
            "actual",
        )
        assert (
            Reading.objects.get(
                interval_start=nz.trading_period_start(dt.date(2026, 7, 8), 2)
            ).quality
            == "estimated"
        )
        file_import(text=text, source="upload")
        assert Reading.objects.count() == 2
        assert not ReadingRevision.objects.exists()
        file_import(
            text=file(det(icp=mine, kwh="0.45"), det(icp=mine, kwh="0.1", flow="I")), source="fix"
        )
        first.refresh_from_db()
        assert first.import_kwh == Decimal("0.45")
        assert ReadingRevision.objects.get().import_kwh == Decimal("0.4")

    def test_unknown_and_foreign_icps_refuse_the_file(self, resident, other_resident):
        mine, _ = self.icps(resident, other_resident)
        with pytest.raises(
            EIEPError, match="line 3: ICP 0000638109TRE20 is not one of the co-op's"
        ):
            file_import(text=file(det(icp=mine), det(icp=GOOD, tp="2")), source="x")
        assert not Reading.objects.exists()

    def test_a_resident_is_told_the_same_for_an_unknown_icp_and_a_neighbours(
        self, resident, other_resident
    ):
        """The refusal must not reveal which ICPs the co-op has."""
        mine, theirs = self.icps(resident, other_resident)
        refusals = {}
        for other in (GOOD, theirs):
            with pytest.raises(EIEPError) as err:
                file_import(
                    text=file(det(icp=mine), det(icp=other, tp="2")), source="x", member=resident
                )
            refusals[other] = err.value.errors
        assert refusals[GOOD] == [f"line 3: ICP {GOOD} is not one of your ICPs"]
        assert refusals[theirs] == [f"line 3: ICP {theirs} is not one of your ICPs"]
        assert not Reading.objects.exists()

    def test_export_then_import_round_trips(self, resident, other_resident):
        mine, _ = self.icps(resident, other_resident)
        file_import(
            text=file(*(det(icp=mine, tp=str(n), kwh=f"{n / 9:.3f}") for n in range(1, 49))),
            source="a",
        )
        before = list(
            Reading.objects.values_list("interval_start", "import_kwh", "export_kwh", "quality")
        )
        text = eiep3_export(
            icps=[resident.icps.get()], start=dt.date(2026, 7, 8), end=dt.date(2026, 7, 8)
        )
        Reading.objects.all().delete()
        file_import(text=text, source="b")
        after = list(
            Reading.objects.values_list("interval_start", "import_kwh", "export_kwh", "quality")
        )
        assert sorted(after) == sorted(before)


@pytest.mark.django_db
def test_large_files_take_the_bulk_path_with_history(resident):
    """Over 1,000 half hours: COPY and a set-based upsert on PostgreSQL, the ORM elsewhere."""
    mine = resident.icps.get().identifier
    days = [dt.date(2026, 6, 1) + dt.timedelta(days=d) for d in range(25)]
    lines = [
        det(icp=mine, date=f"{d:%d/%m/%Y}", tp=str(n), kwh="0.250")
        for d in days
        for n in range(1, 49)
    ]
    assert file_import(text=file(*lines), source="bulk").readings == 1200
    lines[0] = det(icp=mine, date=f"{days[0]:%d/%m/%Y}", tp="1", kwh="0.300")
    lines[1] = det(icp=mine, date=f"{days[0]:%d/%m/%Y}", tp="2", kwh="0.100", kind="E")
    file_import(text=file(*lines), source="bulk-fix")
    assert Reading.objects.count() == 1200
    changed = Reading.objects.get(interval_start=nz.trading_period_start(days[0], 1))
    assert changed.import_kwh == Decimal("0.300")
    assert changed.source == "bulk-fix"
    kept = Reading.objects.get(interval_start=nz.trading_period_start(days[0], 2))
    assert kept.import_kwh == Decimal("0.250")
    assert kept.quality == "actual"
    assert list(ReadingRevision.objects.values_list("import_kwh", flat=True)) == [Decimal("0.250")]


@pytest.mark.django_db
class TestResidentsAndRefusals:
    def test_a_refused_file_is_logged_in_meter_health_and_writes_nothing(self, resident):
        mine = resident.icps.get().identifier
        with pytest.raises(EIEPError):
            file_import(text=file(det(icp=mine), det(icp=mine, tp="49")), source="march.txt")
        event = MeterEvent.objects.get(kind="refused")
        assert "march.txt: file refused" in event.message
        assert "line 3: trading period" in (event.message)
        assert not Reading.objects.exists()

    def test_a_residents_file_fills_only_empty_half_hours_and_never_counts_as_metered(
        self, resident
    ):
        icp = resident.icps.get()
        day = dt.date(2026, 7, 8)
        tp = {n: nz.trading_period_start(day, n) for n in (1, 2, 3)}
        readings_upsert(
            source="modbus",
            rows=[
                IntervalEnergy(icp.pk, tp[1], Decimal("0.5"), ZERO),
                IntervalEnergy(icp.pk, tp[2], Decimal("0.4"), ZERO, "estimated"),
            ],
        )
        text = file(
            det(icp=icp.identifier, tp="1", kwh="0.0", flow="I"),
            det(icp=icp.identifier, tp="1", kwh="5.9"),
            det(icp=icp.identifier, tp="2", kwh="0.7"),
            det(icp=icp.identifier, tp="3", kwh="0.8"),
        )
        result = file_import(text=text, source="upload:resident", member=resident)
        assert (result.readings, result.created, result.changed) == (3, 1, 0)
        stored = {
            r.interval_start: (r.import_kwh, r.quality, r.source)
            for r in Reading.objects.filter(icp=icp)
        }
        assert stored[tp[1]] == (Decimal("0.5"), "actual", "modbus")
        assert stored[tp[2]] == (Decimal("0.4"), "estimated", "modbus")  # estimate stays
        assert stored[tp[3]] == (Decimal("0.8"), "uploaded", "upload:resident")
        assert not ReadingRevision.objects.exists()
        # For settlement an uploaded half hour is still missing, and its energy is not settled.
        assert selectors.icps_missing(tp[3], [icp.pk]) == {icp.pk}
        assert selectors.period_energy(tp[3], [icp.pk]) == {}
        assert selectors.icps_missing(tp[2], [icp.pk]) == set()
        # Uploading again, or different values, changes nothing already stored.
        again = file_import(
            text=file(det(icp=icp.identifier, tp="3", kwh="0.9")),
            source="upload:2",
            member=resident,
        )
        assert (again.created, again.changed) == (0, 0)
        assert Reading.objects.get(interval_start=tp[3]).import_kwh == Decimal("0.8")

    def test_the_meter_or_the_admin_replace_an_upload_and_keep_it(self, resident):
        icp = resident.icps.get()
        day = dt.date(2026, 7, 8)
        text = file(det(icp=icp.identifier, tp="1"), det(icp=icp.identifier, tp="2"))
        file_import(text=text, source="upload:resident", member=resident)
        readings_upsert(
            source="modbus",
            rows=[IntervalEnergy(icp.pk, nz.trading_period_start(day, 1), Decimal("0.3"), ZERO)],
        )
        file_import(text=file(det(icp=icp.identifier, tp="2", kwh="0.2", kind="E")), source="admin")
        stored = {
            r.interval_start: (r.import_kwh, r.quality, r.source)
            for r in Reading.objects.filter(icp=icp)
        }
        assert stored == {
            nz.trading_period_start(day, 1): (Decimal("0.3"), "actual", "modbus"),
            nz.trading_period_start(day, 2): (Decimal("0.2"), "estimated", "admin"),
        }
        kept = ReadingRevision.objects.order_by("reading__interval_start")
        assert [(r.import_kwh, r.quality, r.source, r.replaced_by_source) for r in kept] == [
            (Decimal("0.5"), "uploaded", "upload:resident", "modbus"),
            (Decimal("0.5"), "uploaded", "upload:resident", "admin"),
        ]

    def test_at_the_deadline_an_estimate_replaces_an_upload_and_keeps_it(self, resident):
        icp = resident.icps.get()
        day = dt.date(2026, 7, 8)
        start = nz.trading_period_start(day, 20)
        week = [start - dt.timedelta(days=d) for d in range(1, 8)]
        readings_upsert(
            source="modbus",
            rows=[IntervalEnergy(icp.pk, when, Decimal("0.2"), ZERO) for when in week[1:]],
        )
        # The resident uploads the day before (no data there) and the period itself.
        text = file(
            det(icp=icp.identifier, date="07/07/2026", tp="20", kwh="5.000"),
            det(icp=icp.identifier, tp="20", kwh="0.800"),
        )
        file_import(text=text, source="upload:resident", member=resident)
        assert readings_estimate_missing(interval_start=start, icp_ids=[icp.pk]) == 1
        reading = Reading.objects.get(interval_start=start)
        # The mean of the co-op's own week: the uploaded day before is not history either.
        assert (reading.import_kwh, reading.quality, reading.source) == (
            Decimal("0.200"),
            "estimated",
            "estimate",
        )
        revision = reading.revisions.get()
        assert (revision.import_kwh, revision.quality, revision.source) == (
            Decimal("0.800"),
            "uploaded",
            "upload:resident",
        )
        assert selectors.period_energy(start, [icp.pk]) == {
            icp.pk: (Decimal("0.200"), Decimal("0.000"), "estimated")
        }
        assert selectors.icps_missing(start, [icp.pk]) == set()

    @pytest.mark.parametrize(
        "ahead", [dt.timedelta(0), dt.timedelta(hours=2), dt.timedelta(days=7)]
    )
    def test_an_upload_for_a_half_hour_not_yet_over_is_refused_whole(self, resident, ahead):
        icp = resident.icps.get()
        PVSystem.objects.create(icp=icp, capacity_kwp=Decimal(10), inverter_kw=Decimal(10))
        when = dt.datetime.now(dt.UTC) + ahead
        day, period = nz.trading_period_of(when)
        past_day, past_period = nz.trading_period_of(when - dt.timedelta(days=8))
        text = file(
            det(icp=icp.identifier, date=f"{past_day:%d/%m/%Y}", tp=str(past_period)),
            det(icp=icp.identifier, date=f"{day:%d/%m/%Y}", tp=str(period), kwh="6", flow="I"),
        )
        with pytest.raises(EIEPError) as err:
            file_import(text=text, source="upload:resident", member=resident)
        local = nz.trading_period_start(day, period).astimezone(nz.NZ)
        assert err.value.errors == [
            f"line 3: the half hour from {local:%d/%m/%Y %H:%M} has not ended yet; "
            "an upload can only hold half hours that are over"
        ]
        assert not Reading.objects.exists()

    def test_export_beyond_the_icps_pv_and_battery_is_refused_with_its_line(self, resident):
        icp = resident.icps.get()
        some_export = file(
            det(icp=icp.identifier, tp="1", kwh="0.300"),
            det(icp=icp.identifier, tp="2", kwh="0.001", flow="I"),
        )
        with pytest.raises(EIEPError) as err:
            file_import(text=some_export, source="upload:resident", member=resident)
        assert err.value.errors == [
            "line 3: 0.001 kWh exported in the half hour from 08/07/2026 00:30 is more than "
            f"ICP {icp.identifier} can export: it has no PV or battery on record"
        ]
        PVSystem.objects.create(icp=icp, capacity_kwp=Decimal(3), inverter_kw=Decimal("2.5"))
        Battery.objects.create(icp=icp, capacity_kwh=Decimal(10), power_kw=Decimal(5))
        # (3 kWp + 5 kW) for half an hour, with the same fifth of slack as the connection.
        over = file(
            det(icp=icp.identifier, tp="1", kwh="4.800", flow="I"),
            det(icp=icp.identifier, tp="2", kwh="2.401", flow="I"),
            det(icp=icp.identifier, tp="2", kwh="2.400", flow="I").replace(",S1,", ",S2,"),
        )
        with pytest.raises(EIEPError) as err:
            file_import(text=over, source="upload:resident", member=resident)
        assert err.value.errors == [
            "line 3: 4.801 kWh exported in the half hour from 08/07/2026 00:30 is more than "
            f"ICP {icp.identifier}'s 3 kWp PV and 5 kW battery can export"
        ]
        assert not Reading.objects.exists()
        ok = file(det(icp=icp.identifier, tp="1", kwh="4.800", flow="I"))
        assert file_import(text=ok, source="upload:resident", member=resident).created == 1
        # The co-op's own files are not held to what the asset register says.
        admin = file(det(icp=icp.identifier, tp="2", kwh="6.000", flow="I"))
        assert file_import(text=admin, source="admin").created == 1

    def test_refusals_are_recorded_at_most_ten_an_hour_per_member(self, resident, other_resident):
        mine = resident.icps.get().identifier
        bad = file(det(icp=mine, tp="49"))
        for _ in range(11):
            with pytest.raises(EIEPError, match="trading period '49'"):
                file_import(text=bad, source="upload:resident", member=resident)  # still told
        refused = MeterEvent.objects.filter(kind="refused")
        assert refused.count() == 10
        theirs = other_resident.icps.get().identifier
        with pytest.raises(EIEPError):
            file_import(
                text=file(det(icp=theirs, tp="49")), source="upload:other", member=other_resident
            )
        assert refused.count() == 11
        refused.update(at=timezone.now() - dt.timedelta(minutes=61))
        with pytest.raises(EIEPError):
            file_import(text=bad, source="upload:resident", member=resident)
        assert refused.count() == 12
        # The co-op's own imports are not limited.
        for _ in range(11):
            with pytest.raises(EIEPError):
                file_import(text=bad, source="admin")
        assert refused.count() == 23

    def test_a_resident_cannot_upload_for_before_they_held_the_icp(self, resident, other_resident):
        icp = other_resident.icps.get()
        services.icp_assign_member(icp=icp, member=resident, on=dt.date(2026, 7, 9))
        text = file(det(icp=icp.identifier, date="09/07/2026"), det(icp=icp.identifier))
        with pytest.raises(EIEPError) as err:
            file_import(text=text, source="upload", member=resident)
        assert err.value.errors == [
            f"line 3: 08/07/2026 00:00 is outside the time you held ICP {icp.identifier}"
        ]
        assert not Reading.objects.exists()
        file_import(
            text=file(det(icp=icp.identifier, date="09/07/2026")), source="up", member=resident
        )
        assert Reading.objects.count() == 1

    def test_more_than_the_connection_carries_is_refused(self, resident):
        icp = resident.icps.get()  # 15 kW: 7.5 kWh a half hour, 9 kWh with the fuse's slack
        ok = file(det(icp=icp.identifier, kwh="8.9"), det(icp=icp.identifier, tp="2", kwh="1"))
        assert file_import(text=ok, source="x").readings == 2
        two_streams = file(
            det(icp=icp.identifier, tp="3", kwh="5"),
            det(icp=icp.identifier, tp="4", kwh="0.1"),
            det(icp=icp.identifier, tp="3", kwh="4.5").replace(",S1,", ",S2,"),
        )
        with pytest.raises(EIEPError) as err:
            file_import(text=two_streams, source="x")
        assert err.value.errors == [
            f"line 2: 9.500 kWh in the half hour from 08/07/2026 01:00 is more than ICP "
            f"{icp.identifier}'s 15 kW connection can carry"
        ]
        assert Reading.objects.count() == 2

    def test_an_icp_with_readings_cannot_be_deleted(self, resident):
        icp = resident.icps.get()
        file_import(text=file(det(icp=icp.identifier)), source="x")
        with pytest.raises(ProtectedError):
            icp.delete()


@pytest.mark.django_db
def test_eiep13a_finer_than_a_watt_hour_is_refused_with_its_line():
    day = dt.date(2026, 7, 8)
    start = nz.trading_period_start(day, 1)
    text = eiep13a.write(
        [eiep3.Record(0, GOOD, "M1:UN", "F", day, 1, start, Decimal("0.1234"), "X", "")]
    )
    with pytest.raises(EIEPError) as err:
        file_import(text=text, source="upload")
    assert err.value.errors == ["line 2: 0.1234 kWh has more than 3 decimal places (watt-hours)"]


@pytest.mark.django_db
def test_a_large_admin_file_replaces_uploads_even_with_estimates(resident):
    """The bulk path (PostgreSQL) applies the same rule as the ORM one: the co-op's data,
    estimates included, replaces a resident's upload, which is kept."""
    mine = resident.icps.get().identifier
    file_import(
        text=file(
            det(icp=mine, date="01/06/2026", tp="1"), det(icp=mine, date="01/06/2026", tp="2")
        ),
        source="upload:resident",
        member=resident,
    )
    days = [dt.date(2026, 6, 1) + dt.timedelta(days=d) for d in range(25)]
    lines = [
        det(icp=mine, date=f"{d:%d/%m/%Y}", tp=str(n), kwh="0.250", kind="E" if n == 2 else "F")
        for d in days
        for n in range(1, 49)
    ]
    file_import(text=file(*lines), source="admin")
    first = {
        r.interval_start: (r.import_kwh, r.quality, r.source)
        for r in Reading.objects.filter(interval_start__lt=nz.trading_period_start(days[0], 3))
    }
    assert first == {
        nz.trading_period_start(days[0], 1): (Decimal("0.250"), "actual", "admin"),
        nz.trading_period_start(days[0], 2): (Decimal("0.250"), "estimated", "admin"),
    }
    assert sorted(ReadingRevision.objects.values_list("quality", "import_kwh", "source")) == [
        ("uploaded", Decimal("0.500"), "upload:resident"),
        ("uploaded", Decimal("0.500"), "upload:resident"),
    ]
