"""Websockets over the real Redis channel layer: the display gets a snapshot, then pushes."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import application
from trading.live import broadcast


async def _communicator(path, user=None):
    communicator = WebsocketCommunicator(
        application, path, headers=[(b"origin", b"http://localhost")]
    )
    if user is not None:
        communicator.scope["user"] = user
    return communicator


@pytest.mark.django_db(transaction=True)
def test_display_gets_a_snapshot_and_live_pushes(settings):
    settings.DISPLAY_TOKEN = ""

    async def scenario():
        display = await _communicator("/ws/display/")
        connected, _ = await display.connect()
        assert connected
        snapshot = await display.receive_json_from(timeout=5)
        assert snapshot["kind"] == "snapshot"
        assert "history" in snapshot["data"]
        await database_sync_to_async(broadcast.to_display)(
            "prices", {"latest": {"PEN0331": {"price": "99.10"}}}
        )
        pushed = await display.receive_json_from(timeout=5)
        assert pushed["kind"] == "prices"
        assert pushed["data"]["latest"]["PEN0331"]["price"] == "99.10"
        await display.disconnect()

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_display_token_is_enforced(settings):
    settings.DISPLAY_TOKEN = "lab-screen-7"

    async def scenario():
        refused = await _communicator("/ws/display/?token=wrong")
        connected, _ = await refused.connect()
        assert not connected
        allowed = await _communicator("/ws/display/?token=lab-screen-7")
        connected, _ = await allowed.connect()
        assert connected
        await allowed.disconnect()

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_live_feed_needs_a_member_and_shows_only_their_power(resident, other_resident):
    from django.contrib.auth.models import AnonymousUser

    async def scenario():
        anonymous = await _communicator("/ws/live/", AnonymousUser())
        connected, _ = await anonymous.connect()
        assert not connected
        mine = await _communicator("/ws/live/", resident.user)
        connected, _ = await mine.connect()
        assert connected
        assert (await mine.receive_json_from(timeout=5))["kind"] == "prices"
        assert (await mine.receive_json_from(timeout=5))["kind"] == "power"
        await database_sync_to_async(broadcast.push)(
            broadcast.member_group(other_resident.pk), "power", {"import_kw": "9"}
        )
        await database_sync_to_async(broadcast.push)(
            broadcast.member_group(resident.pk), "power", {"import_kw": "1"}
        )
        got = await mine.receive_json_from(timeout=5)
        assert got["data"] == {"import_kw": "1"}  # the neighbour's push never arrived
        await mine.disconnect()

    asyncio.run(scenario())


def test_display_page_needs_no_login_but_its_token(client, settings):
    settings.DISPLAY_TOKEN = ""
    page = client.get("/display/")
    assert page.status_code == 200
    assert b"/ws/display/" in page.content
    assert b"cdn" not in page.content.lower()
    settings.DISPLAY_TOKEN = "abc"
    assert client.get("/display/").status_code == 403
    assert client.get("/display/?token=abc").status_code == 200


def test_display_labels_are_nz_time_in_one_style():
    import datetime as dt

    from trading.live.snapshot import nz_chart_time, period_label, price_source

    utc = dt.UTC
    # 2026-12-01 TP43 (NZDT, UTC+13): 9:00-9:30 pm on Tuesday 1 December.
    start = dt.datetime(2026, 12, 1, 8, 0, tzinfo=utc)
    assert period_label(start, start + dt.timedelta(minutes=30)) == "Tue 1 Dec, 9:00-9:30 pm"
    noon = dt.datetime(2026, 7, 13, 23, 30, tzinfo=utc)  # 11:30 am NZST, 14 July
    assert period_label(noon, noon + dt.timedelta(minutes=30)) == "Tue 14 Jul, 11:30 am-12:00 pm"
    assert nz_chart_time(start) == "2026-12-01 21:00"
    synthetic = {"PEN0331": {"price": "80", "source": "synthetic"}}
    assert price_source({"source": "none"}, synthetic) == {
        "source": "synthetic",
        "warning": "Synthetic prices — no live feed",
    }
    assert price_source({"source": "replay"}, {})["warning"] == "Replayed prices — no live feed"
    assert price_source({"source": "em6"}, {"PEN0331": {"source": "em6"}})["warning"] == ""


@pytest.mark.django_db(transaction=True)
def test_the_minutes_power_push_reaches_each_member_with_their_own_figures(
    resident, other_resident
):
    """trading.tasks._push_live's member half: every member's power read at once and sent in
    one trip into the channel layer, each to their own group."""
    import datetime as dt
    from decimal import Decimal

    from coop import nz
    from metering.services.readings import readings_upsert
    from metering.values import IntervalEnergy
    from trading.live.power import push_member_power

    now = dt.datetime.now(dt.UTC)
    ended = nz.trading_period_start(*nz.trading_period_of(now)) - nz.TRADING_PERIOD
    readings_upsert(
        source="t",
        rows=[
            IntervalEnergy(resident.icps.get().pk, ended, Decimal("0.5"), Decimal(0)),
            IntervalEnergy(other_resident.icps.get().pk, ended, Decimal(2), Decimal("0.25")),
        ],
    )

    async def scenario():
        sockets = []
        for member in (resident, other_resident):
            socket = await _communicator("/ws/live/", member.user)
            assert (await socket.connect())[0]
            await socket.receive_json_from(timeout=5)  # prices
            await socket.receive_json_from(timeout=5)  # power, as the page opens
            sockets.append(socket)
        await database_sync_to_async(push_member_power)([resident.pk, other_resident.pk])
        mine, theirs = [await s.receive_json_from(timeout=5) for s in sockets]
        assert (mine["kind"], mine["data"]["import_kw"]) == ("power", "1.00")
        assert (theirs["data"]["import_kw"], theirs["data"]["export_kw"]) == ("4.00", "0.50")
        assert mine["data"]["at"] == theirs["data"]["at"] == ended.isoformat()
        for socket in sockets:
            assert await socket.receive_nothing(timeout=0.3)  # one push each
            await socket.disconnect()

    asyncio.run(scenario())


@pytest.mark.django_db
def test_the_displays_solar_estimate_follows_the_panels_and_the_icps_that_reported(
    resident, other_resident
):
    """community_power keeps the household model's estimate for a half hour between the
    minute's pushes, but never past a change to what it rests on."""
    import datetime as dt
    from decimal import Decimal

    from coop.models import PVSystem
    from metering.services.readings import readings_upsert
    from metering.values import IntervalEnergy
    from trading.live.snapshot import community_power

    at = dt.datetime(2026, 1, 15, 0, 0, tzinfo=dt.UTC)  # 13:00 NZDT, midsummer
    mine, theirs = resident.icps.get(), other_resident.icps.get()
    panels = PVSystem.objects.create(icp=theirs, capacity_kwp=Decimal(5), inverter_kw=Decimal(5))
    readings_upsert(source="t", rows=[IntervalEnergy(theirs.pk, at, Decimal(0), Decimal(1))])
    now = at + dt.timedelta(minutes=40)

    first = community_power(now)
    assert Decimal(first["generation_kw"]) > 0
    assert community_power(now) == first
    panels.capacity_kwp = panels.inverter_kw = Decimal(10)
    panels.save()
    doubled = community_power(now)
    assert Decimal(doubled["generation_kw"]) > Decimal(first["generation_kw"])
    # A house with panels of its own reports the same half hour late: it counts too.
    PVSystem.objects.create(icp=mine, capacity_kwp=Decimal(3), inverter_kw=Decimal(3))
    readings_upsert(source="t", rows=[IntervalEnergy(mine.pk, at, Decimal("0.2"), Decimal(0))])
    assert Decimal(community_power(now)["generation_kw"]) > Decimal(doubled["generation_kw"])
