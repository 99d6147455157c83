import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from coop import nz, services
from metering import selectors
from metering.models import Meter, MeterEvent, Reading
from metering.services import eiep_import
from metering.services.readings import readings_upsert
from metering.values import IntervalEnergy

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 7, 8)


def eiep(icp: str, kwh: str = "0.5", tp: str = "1") -> bytes:
    return (
        f"HDR,ICPHH,10.0,SNDR,SNDR,RCPT,09/07/2026,10:00:00,1,1,202607,E,I\n"
        f"DET,{icp},S1,F,08/07/2026,{tp},{kwh},null,null,X,null\n"
    ).encode()


def test_energy_page_shows_only_my_readings(client, resident, other_resident):
    readings_upsert(
        source="t",
        rows=[
            IntervalEnergy(
                resident.icps.get().pk,
                nz.trading_period_start(DAY, 20),
                Decimal("1.234"),
                Decimal(0),
            ),
            IntervalEnergy(
                other_resident.icps.get().pk,
                nz.trading_period_start(DAY, 20),
                Decimal("9.876"),
                Decimal(0),
            ),
        ],
    )
    client.force_login(resident.user)
    page = client.get(reverse("energy"), {"range": "day", "end": "2026-07-08"}).content.decode()
    assert "1.234" in page
    assert "9.876" not in page
    assert "range=day&end=2026-07-07" in page
    assert "range=day&end=2026-07-09" in page
    assert "modelled" in page
    assert "never changes measured data" in page
    csv_text = client.get(
        reverse("energy-csv"), {"range": "week", "end": "2026-07-08"}
    ).content.decode()
    assert "1.234" in csv_text
    assert "9.876" not in csv_text
    assert client.get(reverse("energy"), {"range": "decade"}).status_code == 404


def test_energy_page_shows_an_icp_only_from_when_i_held_it(client, resident, other_resident):
    """A member who moves into a house does not see the previous household's energy."""
    icp = other_resident.icps.get()
    readings_upsert(
        source="t",
        rows=[
            IntervalEnergy(icp.pk, nz.trading_period_start(DAY, 20), Decimal("7.777"), Decimal(0)),
            IntervalEnergy(
                icp.pk,
                nz.trading_period_start(DAY + dt.timedelta(days=1), 20),
                Decimal("3.333"),
                Decimal(0),
            ),
        ],
    )
    services.icp_assign_member(icp=icp, member=resident, on=DAY + dt.timedelta(days=1))
    client.force_login(resident.user)
    csv_text = client.get(
        reverse("energy-csv"), {"range": "week", "end": "2026-07-09"}
    ).content.decode()
    assert "3.333" in csv_text
    assert "7.777" not in csv_text
    client.force_login(other_resident.user)
    csv_text = client.get(
        reverse("energy-csv"), {"range": "week", "end": "2026-07-09"}
    ).content.decode()
    assert "7.777" in csv_text
    assert "3.333" not in csv_text


def test_anonymous_goes_to_login(client):
    assert "/accounts/login/" in client.get(reverse("energy"))["Location"]


def test_resident_uploads_own_file_and_not_a_neighbours(client, resident, other_resident):
    client.force_login(resident.user)
    mine, theirs = resident.icps.get().identifier, other_resident.icps.get().identifier
    response = client.post(
        reverse("energy-upload"), {"file": SimpleUploadedFile("a.txt", eiep(theirs))}, follow=True
    )
    assert f"ICP {theirs} is not one of your ICPs" in response.content.decode()
    assert not Reading.objects.exists()
    response = client.post(
        reverse("energy-upload"),
        {"file": SimpleUploadedFile("a.txt", eiep(mine, tp="49"))},
        follow=True,
    )
    assert "line 2: trading period" in response.content.decode()
    assert not Reading.objects.exists()
    response = client.post(
        reverse("energy-upload"), {"file": SimpleUploadedFile("a.txt", eiep(mine))}, follow=True
    )
    assert "Imported 1 half hours" in response.content.decode()
    assert Reading.objects.count() == 1


def test_admin_upload_export_and_meter_health(client, coop_admin, resident):
    Meter.objects.create(icp=resident.icps.get())
    client.force_login(coop_admin.user)
    assert client.get("/admin/metering/meter/").status_code == 200
    bad = client.post(
        "/admin/metering/meter/upload/",
        {"file": SimpleUploadedFile("x.txt", eiep("0000638109TRE21"))},
    )
    assert "wrong checksum" in bad.content.decode()
    assert not Reading.objects.exists()
    ok = client.post(
        "/admin/metering/meter/upload/",
        {"file": SimpleUploadedFile("x.txt", eiep(resident.icps.get().identifier))},
    )
    assert ok.status_code == 302
    assert Reading.objects.count() == 1
    exported = client.post(
        "/admin/metering/meter/export/",
        {
            "icps": [resident.icps.get().pk],
            "start": "2026-07-08",
            "end": "2026-07-08",
            "recipient": "DIST",
        },
    )
    assert exported.status_code == 200
    assert b"HDR,ICPHH,10.0" in exported.content
    assert "_E_DIST_ICPHH_202607_" in exported["Content-Disposition"]
    for url in ("/admin/metering/reading/", "/admin/metering/meterevent/"):
        assert client.get(url).status_code == 200
    meter = Meter.objects.get()
    repolled = client.post(
        "/admin/metering/meter/",
        {"action": "repoll", "_selected_action": [meter.pk]},
        follow=True,
    )
    assert "Polled 1, 96 readings, 0 failed" in repolled.content.decode()  # two days caught up
    assert Meter.objects.get().status == "online"


def test_simulated_meters_poll_in_batches(db):
    from django.core.management import call_command

    from metering.services.polling import batches, meters_poll

    call_command("seed_demo", verbosity=0)
    ids = list(Meter.objects.values_list("pk", flat=True))
    assert len(batches(list(range(1000)))) <= 10  # 1,000 meters: at most 10 tasks a minute
    now = dt.datetime(2026, 7, 8, 3, 5, tzinfo=dt.UTC)
    report = meters_poll(meter_ids=ids, now=now)
    assert report["failed"] == 0
    assert report["polled"] == 20
    assert report["readings"] == 20 * 96  # two days of catch-up per meter
    assert meters_poll(meter_ids=ids, now=now)["readings"] == 0  # nothing new: nothing written
    assert set(Meter.objects.values_list("status", flat=True)) == {"online"}


def test_quality_by_trading_period_and_meter_gaps(client, coop_admin, resident, other_resident):
    from metering.selectors import quality_by_period

    now = dt.datetime.now(dt.UTC)
    ended = [
        nz.trading_period_start(*nz.trading_period_of(now)) - nz.TRADING_PERIOD * k for k in (1, 2)
    ]
    mine, theirs = resident.icps.get(), other_resident.icps.get()
    readings_upsert(
        source="t",
        rows=[
            IntervalEnergy(mine.pk, ended[0], Decimal("0.1"), Decimal(0)),
            IntervalEnergy(theirs.pk, ended[0], Decimal("0.2"), Decimal(0), "estimated"),
            IntervalEnergy(mine.pk, ended[1], Decimal("0.3"), Decimal(0)),
        ],
    )
    rows = quality_by_period(now)
    assert len(rows) == 48
    assert rows[0]["start"] == ended[0]
    assert [(r["held"], r["actual"], r["estimated"], r["missing"]) for r in rows[:3]] == [
        (3, 1, 1, 1),  # the co-op admin holds an ICP too (fixture), with no reading
        (3, 1, 0, 2),
        (3, 0, 0, 3),
    ]
    assert (rows[0]["date"], rows[0]["period"]) == nz.trading_period_of(ended[0])
    Meter.objects.create(icp=mine)
    client.force_login(coop_admin.user)
    page = client.get("/admin/metering/reading/quality/").content.decode()
    assert "Quality by trading period" in page
    assert page.count('<tr class="tp') == 48
    health = client.get("/admin/metering/meter/").content.decode()
    assert '<td class="field-gaps_last_day">46</td>' in health  # 48 ended, 2 with readings
    client.force_login(resident.user)
    assert client.get("/admin/metering/reading/quality/").status_code == 302  # staff only


def multipart(name: str, content: bytes, boundary: str = "b0undary") -> tuple[bytes, str]:
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: text/plain\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("enforce_csrf", [False, True])
def test_an_upload_declared_over_the_limit_is_refused_before_its_body_is_read(
    resident, enforce_csrf
):
    """Content-Length says 6 MiB but 1 KB comes: reading the body would fail the test
    client's payload, so a 413 here means neither the view nor the CSRF check read it."""
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(resident.user)
    client.get(reverse("energy"))  # a CSRF cookie, so that the CSRF check looks for a token
    body, content_type = multipart("a.txt", b"x" * 1000)
    response = client.post(
        reverse("energy-upload"),
        data=body,
        content_type=content_type,
        CONTENT_LENGTH=str(eiep_import.UPLOAD_MAX_BYTES + 1024 * 1024),
    )
    assert response.status_code == 413
    page = response.content.decode()
    assert "at most 5 MB" in page
    assert "nothing was imported" in page
    assert not Reading.objects.exists()
    assert not MeterEvent.objects.exists()


def test_an_upload_still_needs_its_csrf_token(resident):
    client = Client(enforce_csrf_checks=True)
    client.force_login(resident.user)
    client.get(reverse("energy"))
    mine = resident.icps.get().identifier
    body, content_type = multipart("a.txt", eiep(mine))
    response = client.post(reverse("energy-upload"), data=body, content_type=content_type)
    assert response.status_code == 403
    assert not Reading.objects.exists()
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(
        reverse("energy-upload"),
        {"file": SimpleUploadedFile("a.txt", eiep(mine)), "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert Reading.objects.count() == 1


def test_a_file_over_the_limit_is_refused_with_413(client, resident, monkeypatch):
    """Within what Content-Length allows for the form around it, but the file itself is over."""
    monkeypatch.setattr(eiep_import, "UPLOAD_MAX_BYTES", 100)
    client.force_login(resident.user)
    mine = resident.icps.get().identifier
    response = client.post(
        reverse("energy-upload"), {"file": SimpleUploadedFile("a.txt", eiep(mine))}
    )
    assert response.status_code == 413
    assert "nothing was imported" in response.content.decode()
    assert not Reading.objects.exists()


def test_live_power_never_shows_an_upload_or_a_half_hour_not_over(resident, other_resident):
    """What /ws/live/ and the wall display show as the latest power (see trading.live)."""
    mine, theirs = resident.icps.get().pk, other_resident.icps.get().pk
    tp = {n: nz.trading_period_start(DAY, n) for n in (20, 21, 22)}
    readings_upsert(
        source="t",
        rows=[
            IntervalEnergy(mine, tp[20], Decimal("0.5"), Decimal(0)),
            IntervalEnergy(theirs, tp[20], Decimal("0.25"), Decimal("0.1")),
            IntervalEnergy(mine, tp[21], Decimal(0), Decimal(3), "uploaded"),
            IntervalEnergy(theirs, tp[22], Decimal(1), Decimal(0)),  # not over at `now`
        ],
    )
    now = tp[22] + dt.timedelta(minutes=10)
    assert selectors.latest_metered(now) == (tp[20], Decimal("0.750"), Decimal("0.100"))
    assert selectors.latest_metered(now, member_id=resident.pk) == (
        tp[20],
        Decimal("0.5"),
        Decimal(0),
    )
    assert selectors.latest_metered(tp[20]) is None
    # Every member's at once, as the minute's live push reads them: the same figures.
    assert selectors.members_latest_metered(now, [resident.pk, other_resident.pk]) == {
        resident.pk: (tp[20], Decimal("0.5"), Decimal(0)),
        other_resident.pk: (tp[20], Decimal("0.25"), Decimal("0.1")),
    }
    # A day on, nothing of theirs moves: no member is read (their pages keep their figures).
    later = tp[22] + selectors.LIVE_WINDOW + dt.timedelta(minutes=1)
    assert selectors.members_latest_metered(later, [resident.pk, other_resident.pk]) == {}
    assert selectors.latest_metered(later, member_id=resident.pk)[0] == tp[20]


def test_an_uploaded_half_hour_is_still_missing_in_quality_and_meter_health(
    client, coop_admin, resident
):
    from metering.selectors import quality_by_period

    now = dt.datetime.now(dt.UTC)
    ended = nz.trading_period_start(*nz.trading_period_of(now)) - nz.TRADING_PERIOD
    mine = resident.icps.get()
    readings_upsert(
        source="upload:resident",
        rows=[IntervalEnergy(mine.pk, ended, Decimal("0.1"), Decimal(0), "uploaded")],
    )
    row = quality_by_period(now)[0]
    assert (row["held"], row["actual"], row["estimated"], row["missing"]) == (2, 0, 0, 2)
    Meter.objects.create(icp=mine)
    client.force_login(coop_admin.user)
    health = client.get("/admin/metering/meter/").content.decode()
    assert '<td class="field-gaps_last_day">48</td>' in health


@pytest.mark.parametrize("end", ["0001-01-01", "9999-12-31", "1999-12-31", "2026-02-30", "x"])
def test_impossible_days_on_the_energy_page_are_404s(resident_client, end):
    for path in ("/energy/", "/energy/csv/"):
        response = resident_client.get(path, {"end": end, "range": "year"})
        assert response.status_code == 404, (path, end, response.status_code)
