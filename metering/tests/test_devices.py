"""Each meter adapter against a real peer on loopback: a pymodbus SunSpec server, the MQTT
broker (Mosquitto, else amqtt), and an HTTP server; then polling turns samples into readings."""

import asyncio
import datetime as dt
import json
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import paho.mqtt.client as mqtt
import pytest
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import ModbusTcpServer

from config.embedded_redis import free_port
from coop import nz
from metering.adapters import devices
from metering.adapters.devices import DeviceError
from metering.models import Meter, MeterEvent, Reading, ReadingRevision, RegisterSample
from metering.selectors import due_meter_ids
from metering.services.polling import meters_poll


def sunspec_registers(import_wh: int, export_wh: int, scale: int = 0) -> list[int]:
    """40000: 'SunS', a common model (1), a meter model (203), the end marker."""
    common = [1, 66] + [0] * 66
    body = [0] * 105
    body[36], body[37] = export_wh >> 16, export_wh & 0xFFFF
    body[44], body[45] = import_wh >> 16, import_wh & 0xFFFF
    body[52] = scale & 0xFFFF
    return [0x5375, 0x6E53, *common, 203, 105, *body, 0xFFFF, 0]


class ModbusMeter:
    """A SunSpec meter served by pymodbus on a free port, with fixed register totals."""

    def __init__(self, import_wh: int, export_wh: int, scale: int = 0):
        self.port = free_port()
        # pymodbus' device context adds one to every address (Modbus registers are numbered
        # from 1), so protocol address 40000 is block address 40001.
        self.block = ModbusSequentialDataBlock(
            40001, sunspec_registers(import_wh, export_wh, scale)
        )
        self.context = ModbusServerContext(
            devices={1: ModbusDeviceContext(hr=self.block)}, single=False
        )
        self.loop = asyncio.new_event_loop()
        self.server = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                devices.read_modbus({"host": "127.0.0.1", "port": self.port})
                return
            except DeviceError:
                time.sleep(0.1)
        raise RuntimeError("the Modbus test server did not start")

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def serve():
            # pymodbus servers must be built inside their running event loop.
            self.server = ModbusTcpServer(self.context, address=("127.0.0.1", self.port))
            await self.server.serve_forever()

        self.loop.run_until_complete(serve())

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(10)


@pytest.mark.parametrize(
    ("import_wh", "export_wh", "scale", "expected"),
    [
        (1_234_567, 89_000, 0, (Decimal("1234.567"), Decimal("89"))),
        (123_456, 8_900, 1, (Decimal("1234.56"), Decimal("89"))),
    ],  # SunSpec scale factor 10^1
)
def test_modbus_sunspec_meter(import_wh, export_wh, scale, expected):
    meter = ModbusMeter(import_wh, export_wh, scale)
    try:
        sample = devices.read_modbus({"host": "127.0.0.1", "port": meter.port})
        assert (sample.import_kwh, sample.export_kwh) == expected
    finally:
        meter.stop()


def test_modbus_without_sunspec_or_down():
    with pytest.raises(DeviceError, match="did not answer"):
        devices.read_modbus({"host": "127.0.0.1", "port": free_port()}, timeout=0.5)


class MQTTPublisher:
    def __init__(self, host, port):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.connect(host, port)
        self.client.loop_start()

    def retain(self, topic, payload: bytes):
        self.client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def test_mqtt_shelly_and_tasmota_and_garbage(mqtt_broker):
    host, port = mqtt_broker
    publisher = MQTTPublisher(host, port)
    base = f"hapori-test/{uuid.uuid4().hex}"
    try:
        publisher.retain(
            f"{base}/shelly",
            json.dumps({"id": 0, "total_act_energy": 5123.4, "total_act_ret_energy": 800}).encode(),
        )
        sample = devices.read_mqtt(
            {"host": host, "port": port, "topic": f"{base}/shelly", "style": "shelly"}
        )
        assert (sample.import_kwh, sample.export_kwh) == (Decimal("5.1234"), Decimal("0.8"))
        publisher.retain(
            f"{base}/tasmota",
            b'{"Time":"2026-07-08T10:00:00","ENERGY":{"Total":12.345,"ExportActive":1.5,"Power":420}}',
        )
        sample = devices.read_mqtt(
            {"host": host, "port": port, "topic": f"{base}/tasmota", "style": "tasmota"}
        )
        assert (sample.import_kwh, sample.export_kwh) == (Decimal("12.345"), Decimal("1.5"))
        for garbage, message in (
            (b"\xff\x00garbage", "not JSON"),
            (b'{"ENERGY": {"Total": -4}}', "non-negative"),
            (b"[1, 2]", "not a JSON object"),
            (b'{"ENERGY": {"Total": "NaN"}}', "finite"),
        ):
            publisher.retain(f"{base}/bad", garbage)
            with pytest.raises(DeviceError, match=message):
                devices.read_mqtt(
                    {"host": host, "port": port, "topic": f"{base}/bad", "style": "tasmota"}
                )
        with pytest.raises(DeviceError, match="no retained message"):
            devices.read_mqtt(
                {"host": host, "port": port, "topic": f"hapori-silent/{uuid.uuid4().hex}"},
                timeout=0.5,
            )
    finally:
        for topic in ("shelly", "tasmota", "bad"):
            publisher.retain(f"{base}/{topic}", b"")
        publisher.close()


class JSONMeter(BaseHTTPRequestHandler):
    document: bytes = b"{}"

    def do_GET(self):
        if self.path == "/slow":  # a meter that takes a second to fail
            time.sleep(1)
        self.send_response(200 if self.path == "/status" else 500)
        self.send_header(
            "Content-Type", "application/json" if self.path == "/status" else "text/html"
        )
        self.end_headers()
        self.wfile.write(self.document if self.path == "/status" else b"<html>error</html>")

    def log_message(self, *args):
        pass


@pytest.fixture
def http_meter():
    server = ThreadingHTTPServer(("127.0.0.1", 0), JSONMeter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_json_with_field_mapping(http_meter):
    JSONMeter.document = json.dumps(
        {"emeters": [{"total": 4567.0, "total_returned": 1200.5}]}
    ).encode()
    settings = {
        "url": f"{http_meter}/status",
        "import_field": "emeters.0.total",
        "export_field": "emeters.0.total_returned",
        "unit": "Wh",
    }
    sample = devices.read_http(settings)
    assert (sample.import_kwh, sample.export_kwh) == (Decimal("4.567"), Decimal("1.2005"))
    with pytest.raises(DeviceError, match="did not answer with a reading"):
        devices.read_http({**settings, "url": f"{http_meter}/broken"})
    with pytest.raises(DeviceError, match="missing"):
        devices.read_http({**settings, "import_field": "emeters.3.total"})


def http_meter_at(icp, url: str, **settings) -> Meter:
    return Meter.objects.create(
        icp=icp,
        adapter=Meter.Adapter.HTTP,
        settings={"url": f"{url}/status", "import_field": "i", "export_field": "e", **settings},
    )


def serve(at: dt.datetime, imp, exp="0") -> None:
    JSONMeter.document = json.dumps({"t": at.isoformat(), "i": imp, "e": exp}).encode()


@pytest.mark.django_db
def test_polling_a_device_writes_readings_and_refuses_impossible_jumps(resident, http_meter):
    meter = http_meter_at(resident.icps.get(), http_meter)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    RegisterSample.objects.create(
        meter=meter, at=start, import_kwh=Decimal("100"), export_kwh=Decimal("10"), restart=True
    )
    JSONMeter.document = b'{"i": 101.2, "e": 10.6}'
    report = meters_poll(meter_ids=[meter.pk])
    assert report["polled"] == 1
    readings = list(Reading.objects.filter(icp=meter.icp))
    assert readings
    assert all(r.quality == "estimated" for r in readings)
    # Spread evenly over the hour; only the half hours that have ended are written.
    open_from = max(r.interval_start for r in readings) + nz.TRADING_PERIOD
    ended = Decimal((open_from - start).total_seconds()) / 3600
    assert abs(sum(r.import_kwh for r in readings) - Decimal("1.2") * ended) < Decimal("0.01")
    JSONMeter.document = b'{"i": 900, "e": 10.6}'  # 800 kWh in seconds: impossible
    assert meters_poll(meter_ids=[meter.pk])["failed"] == 1
    assert MeterEvent.objects.filter(
        meter=meter, kind="refused", message__contains="more than a"
    ).exists()
    meter.refresh_from_db()
    # Counting restarts from the refused sample: its 800 kWh are never written, not even once
    # enough hours have passed for such a jump to look possible.
    assert meter.import_register_kwh == Decimal("900.000")
    assert RegisterSample.objects.filter(meter=meter).latest("at").restart
    JSONMeter.document = b'{"i": 900.005, "e": 10.6}'
    assert meters_poll(meter_ids=[meter.pk])["polled"] == 1
    assert sum(r.import_kwh for r in Reading.objects.filter(icp=meter.icp)) <= Decimal("1.2")


@pytest.mark.django_db
def test_late_and_out_of_order_samples_replace_the_gap_estimate(resident, http_meter):
    """Samples every 5 minutes over an hour, delivered: first, last, then the rest backwards.
    The gap is a linear estimate until the late samples arrive; then each half hour is exact."""
    meter = http_meter_at(resident.icps.get(), http_meter, time_field="t")
    t0 = nz.trading_period_start(*nz.trading_period_of(dt.datetime.now(dt.UTC))) - dt.timedelta(
        hours=2
    )
    # 0.1 kWh every 5 minutes in the first half hour, 0.3 in the second: 0.6 and 1.8 kWh.
    registers = {k: Decimal("0.1") * min(k, 6) + Decimal("0.3") * max(k - 6, 0) for k in range(13)}
    at = {k: t0 + dt.timedelta(minutes=5 * k) for k in range(13)}
    now = t0 + dt.timedelta(hours=1, minutes=1)
    for k in (0, 12):
        serve(at[k], str(registers[k]))
        assert meters_poll(meter_ids=[meter.pk], now=now)["failed"] == 0
    estimate = {r.interval_start: r for r in Reading.objects.filter(icp=meter.icp)}
    assert [(r.import_kwh, r.quality) for r in estimate.values()] == [
        (Decimal("1.200"), "estimated"),
        (Decimal("1.200"), "estimated"),
    ]
    for k in range(11, 0, -1):
        serve(at[k], str(registers[k]))
        assert meters_poll(meter_ids=[meter.pk], now=now)["failed"] == 0
    final = {
        r.interval_start: (r.import_kwh, r.quality) for r in Reading.objects.filter(icp=meter.icp)
    }
    assert final == {t0: (Decimal("0.600"), "actual"), at[6]: (Decimal("1.800"), "actual")}
    # Every value replaced on the way was an estimate, and each is kept.
    replaced = ReadingRevision.objects.filter(reading__icp=meter.icp)
    assert replaced.count() >= 2
    assert set(replaced.values_list("quality", flat=True)) == {"estimated"}
    # A late sample that contradicts its neighbours is refused and changes nothing.
    serve(at[3] + dt.timedelta(minutes=1), "0.05")
    assert meters_poll(meter_ids=[meter.pk], now=now)["failed"] == 1
    assert not RegisterSample.objects.filter(
        meter=meter, at=at[3] + dt.timedelta(minutes=1)
    ).exists()
    # The same message again is nothing new; once it is old, it is a dead device, not a reading.
    serve(at[12], str(registers[12]))
    assert meters_poll(meter_ids=[meter.pk], now=now) == {"polled": 1, "readings": 0, "failed": 0}
    later = at[12] + dt.timedelta(minutes=11)
    Meter.objects.filter(pk=meter.pk).update(next_poll_at=None)
    assert meters_poll(meter_ids=[meter.pk], now=later)["failed"] == 1
    assert "no new reading since" in Meter.objects.get(pk=meter.pk).last_error
    assert Reading.objects.filter(icp=meter.icp).count() == 2


@pytest.mark.django_db
def test_samples_from_the_future_or_older_than_kept_are_refused(resident, http_meter):
    meter = http_meter_at(resident.icps.get(), http_meter, time_field="t")
    now = dt.datetime.now(dt.UTC)
    serve(now + dt.timedelta(minutes=10), "1")
    meters_poll(meter_ids=[meter.pk], now=now)
    serve(now - dt.timedelta(days=3), "1")
    Meter.objects.filter(pk=meter.pk).update(next_poll_at=None)
    meters_poll(meter_ids=[meter.pk], now=now)
    messages = list(
        MeterEvent.objects.filter(meter=meter, kind="refused").values_list("message", flat=True)
    )
    assert any("clock is ahead" in m for m in messages)
    assert any("import an EIEP file" in m for m in messages)
    assert not RegisterSample.objects.exists()


def test_device_times():
    assert devices.device_time(1783000000) == dt.datetime(2026, 7, 2, 13, 46, 40, tzinfo=dt.UTC)
    # Tasmota writes the device's local time without an offset: NZST is UTC+12 in July.
    assert devices.device_time("2026-07-08T10:00:00") == dt.datetime(2026, 7, 7, 22, tzinfo=dt.UTC)
    imp, exp, at = devices.parse_mqtt_payload(
        b'{"Time": "2026-01-08T10:00:00", "ENERGY": {"Total": 1.5, "ExportActive": 0.5}}',
        "tasmota",
    )
    assert (imp, exp, at) == (
        Decimal("1.5"),
        Decimal("0.5"),
        dt.datetime(2026, 1, 7, 21, tzinfo=dt.UTC),
    )
    with pytest.raises(devices.BadPayload, match="neither epoch seconds nor ISO 8601"):
        devices.device_time("yesterday")


@pytest.mark.django_db
def test_a_failing_meter_backs_off_and_goes_offline_without_holding_up_others(
    resident, other_resident, http_meter
):
    JSONMeter.document = b'{"i": 1, "e": 0}'
    dead = Meter.objects.create(
        icp=resident.icps.get(), adapter=Meter.Adapter.HTTP, settings={"url": f"{http_meter}/x"}
    )
    alive = Meter.objects.create(
        icp=other_resident.icps.get(),
        adapter=Meter.Adapter.HTTP,
        settings={"url": f"{http_meter}/status", "import_field": "i", "export_field": "e"},
    )
    now = dt.datetime.now(dt.UTC)
    waits = []
    for _ in range(5):
        assert meters_poll(meter_ids=[dead.pk, alive.pk], now=now) == {
            "polled": 1,
            "readings": 0,
            "failed": 1,
        }
        dead.refresh_from_db()
        waits.append((dead.next_poll_at - now).total_seconds() / 60)
        assert due_meter_ids(now) == [alive.pk]  # backing off: not asked again yet
        now = dead.next_poll_at
    assert waits == [1, 2, 4, 8, 16]
    assert dead.status == "offline"
    assert MeterEvent.objects.filter(meter=dead, kind="missed").count() == 5
    assert MeterEvent.objects.filter(meter=dead, kind="offline").count() == 1
    JSONMeter.document = b"not json"
    Meter.objects.filter(pk=alive.pk).update(next_poll_at=None)
    meters_poll(meter_ids=[alive.pk], now=now)
    assert MeterEvent.objects.filter(meter=alive, kind="refused", message__contains="JSON").exists()
    dead.settings = alive.settings
    dead.save()
    JSONMeter.document = b'{"i": 1, "e": 0}'
    assert meters_poll(meter_ids=[dead.pk], now=now)["polled"] == 1
    dead.refresh_from_db()
    assert (dead.status, dead.next_poll_at, dead.consecutive_misses) == ("online", None, 0)


@pytest.mark.django_db
def test_a_power_meter_is_integrated_into_half_hours(resident, http_meter):
    meter = http_meter_at(
        resident.icps.get(), http_meter, measures="power", power_field="w", time_field="t"
    )
    now = dt.datetime.now(dt.UTC)
    t0 = nz.trading_period_start(*nz.trading_period_of(now)) - dt.timedelta(hours=1)
    for minute in range(31):  # 6 kW importing for 20 minutes, then 3 kW exporting
        watts = 6000 if minute <= 20 else -3000
        JSONMeter.document = json.dumps(
            {"t": (t0 + dt.timedelta(minutes=minute)).isoformat(), "w": watts}
        ).encode()
        assert meters_poll(meter_ids=[meter.pk], now=now)["failed"] == 0
    reading = Reading.objects.get(icp=meter.icp)
    assert (reading.interval_start, reading.import_kwh, reading.export_kwh, reading.quality) == (
        t0,
        Decimal("2.000"),
        Decimal("0.500"),
        "actual",
    )
    late = {"t": (t0 + dt.timedelta(minutes=5, seconds=30)).isoformat(), "w": 100}
    JSONMeter.document = json.dumps(late).encode()
    assert meters_poll(meter_ids=[meter.pk], now=now)["failed"] == 1
    assert "must arrive in order" in Meter.objects.get(pk=meter.pk).last_error
    imp, exp, at = devices.parse_mqtt_payload(
        b'{"Time": "2026-07-08T10:00:00", "ENERGY": {"Power": -1500}}', "tasmota", power=True
    )
    assert (imp, exp, at) == (
        Decimal(-1500),
        Decimal(0),
        dt.datetime(2026, 7, 7, 22, tzinfo=dt.UTC),
    )


@pytest.mark.django_db
def test_slow_dead_meters_do_not_hold_up_the_batch(http_meter):
    """Devices in a batch are read at once: four that each take a second to fail cost the batch
    about one second, not four."""
    from conftest import make_member

    meters = [
        Meter.objects.create(
            icp=make_member(f"slow{n}", 20 + n).icps.get(),
            adapter=Meter.Adapter.HTTP,
            settings={"url": f"{http_meter}/slow"},
        )
        for n in range(4)
    ]
    JSONMeter.document = b'{"i": 1, "e": 0}'
    good = http_meter_at(make_member("quick", 30).icps.get(), http_meter)
    started = time.perf_counter()
    report = meters_poll(meter_ids=[m.pk for m in meters] + [good.pk])
    elapsed = time.perf_counter() - started
    assert report == {"polled": 1, "readings": 0, "failed": 4}
    assert elapsed < 3, elapsed  # read one after another, it would be over 4 s
    assert Meter.objects.get(pk=good.pk).status == "online"


def test_a_huge_or_deeply_nested_device_payload_is_refused_not_decoded(http_meter):
    """A resident's own device may send anything: bounded before it is decoded."""
    settings = {"url": f"{http_meter}/status", "import_field": "i", "export_field": "e"}
    JSONMeter.document = b'{"i": 1, "e": 0, "pad": "' + b"x" * (200 * 1024) + b'"}'
    with pytest.raises(devices.BadPayload, match="at most 65,536"):
        devices.read_http(settings)
    JSONMeter.document = b"[" * 5_000 + b"]" * 5_000
    with pytest.raises(devices.BadPayload, match="nests 5000 levels"):
        devices.read_http(settings)
    with pytest.raises(devices.BadPayload, match="nests"):
        devices.parse_mqtt_payload(b'{"a":' * 100 + b"1" + b"}" * 100, "shelly")
