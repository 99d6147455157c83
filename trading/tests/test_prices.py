"""Price sources against recorded responses served from a real local HTTP server."""

import datetime as dt
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from coop import nz
from trading.live.services import prices_poll, prices_store
from trading.models import WholesalePrice
from trading.prices import archive, synthetic
from trading.prices.live import Em6, EmiRealTime, Wits
from trading.prices.points import SourceError

FIXTURES = Path(__file__).parent / "fixtures"


class Recorded(BaseHTTPRequestHandler):
    routes: dict = {}

    def _answer(self):
        route = self.routes.get(self.path.split("?")[0])
        if route is None:
            self.send_response(404)
            self.end_headers()
            return
        status, content_type, body, delay = route
        time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorded)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    Recorded.routes = {}
    yield f"http://127.0.0.1:{httpd.server_address[1]}", Recorded.routes
    httpd.shutdown()


JSON = "application/json"


def test_em6_regional_prices(server):
    base, routes = server
    routes["/em6"] = (200, JSON, (FIXTURES / "em6_region_price.json").read_bytes(), 0)
    points, skipped = Em6(f"{base}/em6").fetch()
    assert {p.node: p.dollars_per_mwh for p in points} == {
        "PEN0331": Decimal("142.37"),
        "HAY2201": Decimal("131.02"),
        "BEN2201": Decimal("118.5"),
    }
    assert skipped == ["unknown grid zone 99"]
    assert points[0].interval_start == nz.trading_period_start(dt.date(2026, 7, 8), 27)


def test_emi_local_times_across_daylight_saving(server):
    base, routes = server
    routes["/rtd"] = (200, JSON, (FIXTURES / "emi_rtd.json").read_bytes(), 0)
    points, _ = EmiRealTime(f"{base}/rtd", "key", ["OTA2201", "HAY2201"]).fetch()
    ota = points[0]
    # 02:35 on 5 April 2026 happens twice; without an offset the first (NZDT) is meant: TP6.
    assert (ota.trading_date, ota.trading_period) == (dt.date(2026, 4, 5), 6)


def test_wits_sample_response(server, shared_data):
    base, routes = server
    routes["/login/oauth2/token"] = (200, JSON, b'{"access_token": "t", "expires_in": 3600}', 0)
    sample = (
        shared_data / "api_samples/wits_market_prices_v1_schedule_prices_sample.json"
    ).read_bytes()
    routes["/api/market-prices/v1/schedules/PRSL/prices"] = (200, JSON, sample, 0)
    points, _skipped = Wits(base, "id", "secret", ["WKM2201", "OTA2201"], schedule="PRSL").fetch()
    assert points
    assert {p.node for p in points} <= {"WKM2201", "OTA2201"}
    assert all(p.interval_start.tzinfo is not None for p in points)


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ((500, "text/html", b"<html>Service Unavailable</html>", 0), "HTTP 500"),
        ((200, "text/html", b"<html>login</html>", 0), "not JSON"),
        ((200, JSON, b"{not json", 0), "malformed JSON"),
        ((200, JSON, b'{"rows": []}', 0), "no items list"),
        ((200, JSON, b"x", 1.5), "timed out"),
    ],
)
def test_bad_live_answers_raise_source_errors(server, route, message):
    base, routes = server
    routes["/em6"] = route
    with pytest.raises(SourceError, match=message):
        Em6(f"{base}/em6", timeout=0.5).fetch()


HEADER = "TradingDate,TradingPeriod,PointOfConnection,DollarsPerMegawattHour"


def test_archive_both_formats_and_daylight_saving():
    current = archive.parse([HEADER, "2026-04-05,50,OTA2201,81.10"])
    legacy = archive.parse(
        ["Trading_date,Trading_period,Node,Price", "05/04/2026,50,OTA2201,81.10"]
    )
    assert (
        current[0].interval_start
        == legacy[0].interval_start
        == nz.trading_period_start(dt.date(2026, 4, 5), 50)
    )
    with pytest.raises(
        archive.ArchiveError, match="line 3: trading period '47' is out of range for 2026-09-27"
    ):
        archive.parse([HEADER, "2026-09-27,46,OTA2201,81.10", "2026-09-27,47,OTA2201,81.10"])


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2026-07-08,1,OTAHUHU,81", "not a node code"),
        ("2026-07-08,1,OTA2201,abc", "not a number"),
        ("2026-13-08,1,OTA2201,81", "not YYYY-MM-DD"),
        ("2026-07-08,1,OTA2201", "4 fields"),
    ],
)
def test_archive_bad_rows_refuse_the_file_with_line_numbers(row, message):
    with pytest.raises(archive.ArchiveError) as err:
        archive.parse([HEADER, "2026-07-08,1,OTA2201,80", row])
    assert err.value.errors[0].startswith("line 3")
    assert message in err.value.errors[0]


@pytest.mark.django_db
def test_importing_the_real_files_keeps_every_row(shared_data, tmp_path):
    daily = shared_data / "prices/20260806_FinalEnergyPrices.csv"
    selected = (
        shared_data / "prices/emi_final_energy_prices_2026-05-03_to_2026-08-06_selected_nodes.csv"
    )
    call_command("import_prices", str(daily), str(selected), verbosity=0)
    # The selected-nodes file shares 2026-08-06 at its 13 nodes with the daily file.
    overlap = 13 * 48
    assert WholesalePrice.objects.count() == 11_808 + 42_432 - overlap
    call_command("import_prices", str(daily), verbosity=0)
    assert WholesalePrice.objects.count() == 11_808 + 42_432 - overlap
    spike = WholesalePrice.objects.order_by("-dollars_per_mwh").first()
    assert spike.dollars_per_mwh > 4000
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\n2026-07-08,1,OTA2201,80\n2026-07-08,49,OTA2201,80\n")
    with pytest.raises(CommandError, match="line 3"):
        call_command("import_prices", str(bad), verbosity=0)


def test_synthetic_feed_has_the_real_shape(shared_data):
    import csv
    from statistics import mean, median

    rows = [
        r
        for r in csv.DictReader(
            (
                shared_data
                / "prices/emi_final_energy_prices_2026-05-03_to_2026-08-06_selected_nodes.csv"
            ).open()
        )
        if r["PointOfConnection"] == "PEN0331"
    ]
    real = [float(r["DollarsPerMegawattHour"]) for r in rows]
    start = dt.datetime(2026, 5, 3, tzinfo=dt.UTC)
    fake = [
        float(synthetic.price_at("PEN0331", start + dt.timedelta(minutes=30 * i)))
        for i in range(len(real))
    ]
    assert 0.75 < median(fake) / median(real) < 1.25
    assert 0.7 < mean(fake) / mean(real) < 1.3
    evening = [
        float(synthetic.price_at("PEN0331", nz.trading_period_start(dt.date(2026, 7, 8), 36)))
    ]
    assert evening[0] > median(fake)
    assert synthetic.price_at("BEN2201", start) < synthetic.price_at("PEN0331", start)


@pytest.mark.django_db
def test_poll_falls_back_and_keeps_the_last_good_price(server, settings):
    base, routes = server
    settings.PRICE_SOURCE = "auto"
    settings.EM6_URL = f"{base}/em6"
    routes["/em6"] = (200, JSON, (FIXTURES / "em6_region_price.json").read_bytes(), 0)
    assert prices_poll()["source"] == "em6"
    assert WholesalePrice.objects.filter(node="PEN0331", dollars_per_mwh=Decimal("142.37")).exists()
    assert prices_poll()["stored"] == 0  # the same prices again: stored once
    routes["/em6"] = (502, "text/html", b"<html>Bad gateway</html>", 0)
    status = prices_poll(now=dt.datetime(2026, 7, 8, 1, 40, tzinfo=dt.UTC))
    assert status["source"] == "synthetic"
    assert "HTTP 502" in status["problems"][0]
    assert WholesalePrice.objects.filter(node="PEN0331", dollars_per_mwh=Decimal("142.37")).exists()
    settings.PRICE_SOURCE = "replay"
    prices_store(points=archive.parse([HEADER, "2026-07-01,4,PEN0331,77.70"]))
    replayed = prices_poll(now=dt.datetime(2026, 7, 2, 13, 40, tzinfo=dt.UTC))
    assert replayed["source"] == "replay"


def test_an_em6_time_without_an_offset_is_the_feeds_fault_not_a_crash(server):
    """A bare wall time could be NZST, NZDT or UTC: refused as a SourceError, so the poll
    falls back to the next source instead of failing (and never files it in a guessed TP)."""
    import json

    base, routes = server
    body = json.loads((FIXTURES / "em6_region_price.json").read_text())
    body["items"][0]["timestamp"] = "2026-07-08T13:00:00"
    routes["/em6"] = (200, JSON, json.dumps(body).encode(), 0)
    with pytest.raises(SourceError, match="valid timestamp"):
        Em6(f"{base}/em6").fetch()
