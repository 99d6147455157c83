"""A home's plan (Dispatch): validated whole, followed by the simulated home (which carries its
battery's state of charge from one call to the next), and sent to real battery controllers: a
pymodbus server with a SunSpec storage model (124), and the MQTT broker (Mosquitto, else amqtt).
"""

import asyncio
import datetime as dt
import json
import queue
import socket
import threading
import time
import uuid
from decimal import Decimal

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from config.embedded_redis import free_port
from conftest import make_member
from coop.models import Battery, ElectricVehicle, PVSystem
from metering.adapters import devices
from metering.adapters.simulated import interval_energy
from metering.household_model import simulate
from metering.houses import spec_for
from metering.models import Dispatch, Meter, StorageState
from metering.selectors import battery_soc
from metering.services.dispatch import dispatch_clear, dispatch_send, dispatch_set
from metering.values import WH

HALF = dt.timedelta(minutes=30)
# 10 December 2026, NZ daylight time (UTC+13): local midnight is 11:00 UTC the day before.
MIDNIGHT = dt.datetime(2026, 12, 9, 11, tzinfo=dt.UTC)
EVENING = MIDNIGHT + dt.timedelta(hours=21)  # 21:00 NZDT, after sunset


def equip(member, *, battery_kw="5", pv=True, ev=False):
    icp = member.icps.get()
    Battery.objects.create(icp=icp, capacity_kwh=Decimal("13.5"), power_kw=Decimal(battery_kw))
    if pv:
        PVSystem.objects.create(icp=icp, capacity_kwp=Decimal("6.6"), inverter_kw=Decimal(5))
    if ev:
        ElectricVehicle.objects.create(icp=icp, battery_kwh=Decimal(60), charger_kw=Decimal("7.4"))
    return icp


def plan_of(icp):
    return {d.interval_start: (d.battery_kwh, d.ev_kwh) for d in Dispatch.objects.filter(icp=icp)}


# --- dispatch_set / dispatch_clear ----------------------------------------------------------


@pytest.mark.django_db
def test_dispatch_set_validates_whole_and_never_rewrites_a_started_half_hour(resident):
    icp = equip(resident, ev=True)  # 5 kW battery: 2.5 kWh a half hour; 7.4 kW charger: 3.7
    t = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    rows = [(t, Decimal("1"), Decimal(0)), (t + HALF, Decimal("2.5"), Decimal("3.7"))]
    rows.append((t + 2 * HALF, Decimal("-2.525"), Decimal(0)))  # full power with 1% slack
    assert dispatch_set(icp_id=icp.pk, rows=rows, now=t - dt.timedelta(minutes=5)) == 3
    before = plan_of(icp)
    for bad, message in (
        (
            (t + HALF, Decimal("2.6"), Decimal(0)),
            r"row 2 \(2026-12-01T10:30:00\+00:00\): battery 2.600 kWh is more than the ICP's 5",
        ),
        ((t + HALF, Decimal("-2.6"), Decimal(0)), r"row 2 .*battery -2.600"),
        ((t + HALF, Decimal(0), Decimal("3.8")), r"row 2 .*chargers"),
        ((t + HALF, Decimal(0), Decimal("-0.1")), r"row 2 .*negative"),
        ((t + HALF + dt.timedelta(minutes=15), Decimal(0), Decimal(0)), r"row 2 .*not the start"),
        ((t, Decimal(0), Decimal(0)), r"row 2 .*given twice"),
        ((t.replace(tzinfo=None), Decimal(0), Decimal(0)), r"row 2 .*timezone-aware"),
    ):
        with pytest.raises(ValueError, match=message):
            dispatch_set(icp_id=icp.pk, rows=[(t, Decimal("0.5"), Decimal(0)), bad], now=t - HALF)
        assert plan_of(icp) == before  # refused whole: nothing written, nothing dropped
    # A re-plan during the first half hour: that one keeps its plan, whatever the rows say;
    # the later ones are replaced, and one the new plan leaves out is gone.
    now = t + dt.timedelta(minutes=10)
    written = dispatch_set(
        icp_id=icp.pk,
        rows=[(t, Decimal("-2"), Decimal(0)), (t + HALF, Decimal("-1.5"), Decimal("1"))],
        now=now,
    )
    assert written == 1
    assert plan_of(icp) == {
        t: (Decimal("1.000"), Decimal("0.000")),
        t + HALF: (Decimal("-1.500"), Decimal("1.000")),
    }
    assert dispatch_clear(icp_id=icp.pk, now=now) == 1
    assert plan_of(icp) == {t: (Decimal("1.000"), Decimal("0.000"))}


@pytest.mark.django_db
def test_an_icp_without_a_battery_or_ev_may_plan_nothing_for_them(resident):
    icp = resident.icps.get()
    t = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    assert dispatch_set(icp_id=icp.pk, rows=[(t, Decimal(0), Decimal(0))], now=t) == 1
    with pytest.raises(ValueError, match=r"row 1 .*0 kW of batteries"):
        dispatch_set(icp_id=icp.pk, rows=[(t, Decimal("0.001"), Decimal(0))], now=t)
    with pytest.raises(ValueError, match=r"row 1 .*0 kW of chargers"):
        dispatch_set(icp_id=icp.pk, rows=[(t, Decimal(0), Decimal("0.5"))], now=t)


# --- the simulated home ---------------------------------------------------------------------


def kwh(value):
    return Decimal(repr(float(value))).quantize(WH)


def as_tuples(rows):
    return [(r.interval_start, r.import_kwh, r.export_kwh) for r in rows]


@pytest.mark.django_db
def test_a_simulated_home_follows_its_plan_and_carries_its_state_of_charge(resident):
    icp = equip(resident)
    end = MIDNIGHT + dt.timedelta(hours=22)
    # Without a plan: self-consumption; the battery, full from the day's sun, covers the load.
    plain = {r.interval_start: r for r in interval_energy(icp, MIDNIGHT, end)}
    soc_evening = StorageState.objects.get(icp=icp, interval_start=EVENING).soc_kwh
    assert soc_evening > Decimal(5)
    expected = simulate(spec_for(icp), MIDNIGHT, end, soc_decimals=3)
    i = expected.starts.get_loc(EVENING)
    covered = kwh(expected.battery_discharge[i])
    assert plain[EVENING].export_kwh == 0
    StorageState.objects.all().delete()
    # The plan discharges 2 kWh at 21:00: what the load does not take is exported.
    assert dispatch_set(
        icp_id=icp.pk, rows=[(EVENING, Decimal(-2), Decimal(0))], now=MIDNIGHT - HALF
    )
    planned = interval_energy(icp, MIDNIGHT, end)
    by_start = {r.interval_start: r for r in planned}
    net_before = plain[EVENING].export_kwh - plain[EVENING].import_kwh
    net_after = by_start[EVENING].export_kwh - by_start[EVENING].import_kwh
    assert abs(net_after - net_before - (Decimal(2) - covered)) <= Decimal("0.002")
    assert by_start[EVENING].export_kwh > Decimal(1)
    assert by_start[EVENING].import_kwh == 0
    for when, row in by_start.items():
        if when < EVENING:
            assert (row.import_kwh, row.export_kwh) == (
                plain[when].import_kwh,
                plain[when].export_kwh,
            )
    # The state after 21:00 is 2 kWh (at the terminals, so more from the cells) lower.
    soc_after = StorageState.objects.get(icp=icp, interval_start=EVENING + HALF).soc_kwh
    assert soc_after < soc_evening - Decimal(2)
    # The same window again, and a window starting from a state stored half way through it,
    # give exactly the same energy as the run that stored it.
    assert as_tuples(interval_energy(icp, MIDNIGHT, end)) == as_tuples(planned)
    later = MIDNIGHT + dt.timedelta(hours=19)
    assert as_tuples(interval_energy(icp, later, end)) == [
        t for t in as_tuples(planned) if t[0] >= later
    ]
    # The next window starts from the state the last one left, not half charge: a plan that
    # discharges at full power all night shows it.
    carried = StorageState.objects.get(icp=icp, interval_start=end).soc_kwh
    assert battery_soc([icp.pk], end) == {icp.pk: carried}
    assert battery_soc([icp.pk], end + dt.timedelta(hours=1)) == {icp.pk: carried}
    night = [(end + k * HALF, Decimal("-2.5"), Decimal(0)) for k in range(6)]
    dispatch_set(icp_id=icp.pk, rows=night, now=end)
    next_end = end + dt.timedelta(hours=3)
    following = interval_energy(icp, end, next_end)
    plan = np.full(6, -2.5)

    def quantised(halves):
        return [
            (w.to_pydatetime(), kwh(i), kwh(e))
            for w, i, e in zip(halves.starts, halves.grid_import, halves.grid_export, strict=True)
        ]

    spec = spec_for(icp)
    from_stored = simulate(
        spec, end, next_end, battery_plan=plan, soc_start_kwh=float(carried), soc_decimals=3
    )
    from_half = simulate(spec, end, next_end, battery_plan=plan, soc_decimals=3)
    assert as_tuples(following) == quantised(from_stored)
    assert as_tuples(following) != quantised(from_half)
    assert sum(r.export_kwh for r in following) > sum(kwh(e) for e in from_half.grid_export)
    # A home without a battery keeps no state.
    other = make_member("nobattery", 40).icps.get()
    interval_energy(other, MIDNIGHT, end)
    assert not StorageState.objects.filter(icp=other).exists()
    assert battery_soc([icp.pk, other.pk], end) == {icp.pk: carried}


def test_household_model_plan_is_clipped_to_what_the_battery_can_do():
    from metering.household_model import HouseSpec

    spec = HouseSpec(-36.85, 174.76, 3, battery_kwh=10, battery_kw=4, battery_min_soc=0.1)
    start = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    end = start + dt.timedelta(hours=3)
    plan = np.array([3.0, 3.0, -5.0, np.nan, -2.0, -2.0])
    h = simulate(spec, start, end, battery_plan=plan, soc_start_kwh=9.0)
    one_way = 0.9**0.5
    assert h.soc[0] == 9.0
    # 3 kWh asked: 2 kWh is the power limit, and only 1 kWh of room is left (at the cells).
    assert h.battery_charge[0] == pytest.approx(1 / one_way)
    assert h.battery_charge[1] == 0
    assert h.battery_discharge[2] == pytest.approx(2.0)  # at most 4 kW for half an hour
    # Never below the minimum charge, whatever the plan.
    assert h.soc.min() >= 1.0 - 1e-9
    assert h.soc_end >= 1.0 - 1e-9
    supply = h.pv + h.grid_import + h.battery_discharge
    demand = h.load + h.grid_export + h.battery_charge
    assert np.allclose(supply, demand, atol=1e-9)
    with pytest.raises(ValueError, match="battery_plan"):
        simulate(spec, start, end, battery_plan=np.zeros(3))


# --- Modbus: SunSpec storage model 124 ------------------------------------------------------

BASE = 40000
# 'SunS', the common model (1), a meter (203), storage (124), the end marker.
COMMON_AT = BASE + 2
METER_AT = COMMON_AT + 2 + 66
STORAGE_AT = METER_AT + 2 + 105
STORAGE_BODY = STORAGE_AT + 2
OUT_W_RTE, IN_W_RTE, WIN_TMS, RVRT_TMS, STORCTL_MOD = 10, 11, 12, 13, 3


def storage_image(w_cha_max=5000, w_sf=0, rate_sf=-2):
    common = [1, 66] + [0] * 66
    meter = [203, 105] + [0] * 105
    body = [0] * 24
    body[0] = w_cha_max  # WChaMax
    body[1] = body[2] = 100  # WChaGra, WDisChaGra
    body[6] = 5500  # ChaState 55.00 %
    body[9] = 6  # ChaSt holding
    body[16] = w_sf & 0xFFFF  # WChaMax_SF
    body[17] = 0  # WChaDisChaGra_SF
    body[20] = 0xFFFE  # ChaState_SF -2
    body[23] = rate_sf & 0xFFFF  # InOutWRte_SF
    return [0x5375, 0x6E53, *common, *meter, 124, 24, *body, 0xFFFF, 0]


class StorageDevice:
    """A battery inverter with SunSpec model 124, served by pymodbus on a free port. With
    `refuse`, every write is answered with a Modbus exception (device failure)."""

    def __init__(self, *, refuse=False, **image):
        self.port = free_port()

        async def refuse_writes(function_code, start, address, count, registers, values):
            return ExcCodes.DEVICE_FAILURE if values is not None else None

        self.device = SimDevice(
            id=1,
            simdata=[SimData(BASE, values=storage_image(**image), datatype=DataType.REGISTERS)],
            action=refuse_writes if refuse else None,
        )
        self.loop = asyncio.new_event_loop()
        self.server = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the Modbus test server did not start")

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def serve():
            # pymodbus servers must be built inside their running event loop.
            self.server = ModbusTcpServer(self.device, address=("127.0.0.1", self.port))
            await self.server.serve_forever()

        self.loop.run_until_complete(serve())

    def registers(self, offset, count=1):
        """Registers of the storage model's body, straight from the server's datastore."""
        read = self.server.context.async_getValues(1, 3, STORAGE_BODY + offset, count)
        return list(asyncio.run_coroutine_threadsafe(read, self.loop).result(5))

    def settings(self, **more):
        return {"host": "127.0.0.1", "port": self.port, **more}

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(10)


@pytest.fixture
def storage_devices():
    started = []

    def start(**kwargs):
        started.append(StorageDevice(**kwargs))
        return started[-1]

    yield start
    for device in started:
        device.stop()


def signed(value):
    return value - 0x10000 if value & 0x8000 else value


@pytest.mark.parametrize(
    ("battery_w", "control", "expected"),
    [
        (-2000, "window", (3, 4000, -4000)),  # discharge 40 % of 5 kW, pinned both ways
        (2500, "window", (3, -5000, 5000)),  # charge 50 %
        (2500, "mode", (1, 0, 5000)),  # charge bit, InWRte
        (-2000, "mode", (2, 4000, 0)),  # discharge bit, OutWRte
        (0, "window", (3, 0, 0)),  # hold
        (9000, "window", (3, -10000, 10000)),  # more than WChaMax: 100 %
    ],
)
def test_modbus_storage_setpoint_is_written_to_model_124(
    storage_devices, battery_w, control, expected
):
    device = storage_devices()
    setpoint = devices.Setpoint(dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC), battery_w, 0)
    command = devices.write_modbus(device.settings(storage_control=control), setpoint)
    mode, out_rte, in_rte = expected
    assert (command.storctl_mod, command.out_w_rte, command.in_w_rte) == expected
    assert device.registers(STORCTL_MOD) == [mode]
    out_raw, in_raw, window, revert = device.registers(OUT_W_RTE, 4)
    assert (signed(out_raw), signed(in_raw)) == (out_rte, in_rte)
    assert (window, revert) == (0, 1800)  # falls back by itself 30 minutes on
    # The meter model next to it still reads.
    assert devices.read_modbus(device.settings()).import_kwh == 0


def test_modbus_storage_scale_factors_and_a_device_without_storage(storage_devices):
    # WChaMax 500 x 10^1 W = 5 kW; rates in whole percent.
    device = storage_devices(w_cha_max=500, w_sf=1, rate_sf=0)
    at = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    devices.write_modbus(device.settings(), devices.Setpoint(at, -1000, 0))
    assert [signed(v) for v in device.registers(OUT_W_RTE, 2)] == [20, -20]
    with pytest.raises(devices.DeviceError, match="no SunSpec marker at 40100"):
        devices.write_modbus(device.settings(sunspec_base=40100), devices.Setpoint(at, 0, 0))
    # A rate that a 16-bit register cannot hold at its scale factor is refused, not wrapped.
    tiny = storage_devices(rate_sf=-3)
    with pytest.raises(devices.DeviceError, match="does not fit"):
        devices.write_modbus(tiny.settings(), devices.Setpoint(at, 5000, 0))


def battery_home(name, n, meter_adapter, **meter_fields):
    icp = equip(make_member(name, n), pv=False)
    meter = Meter.objects.create(icp=icp, adapter=meter_adapter, **meter_fields)
    return icp, meter


@pytest.mark.django_db
def test_dispatch_send_to_modbus_devices_records_refusals_and_goes_on(storage_devices):
    now = dt.datetime.now(dt.UTC)
    current = now - (now - dt.datetime(2020, 1, 1, tzinfo=dt.UTC)) % HALF
    good, refusing = storage_devices(), storage_devices(refuse=True)
    homes = {
        "good": battery_home("good", 50, Meter.Adapter.MODBUS, settings=good.settings()),
        "refusing": battery_home(
            "refusing", 51, Meter.Adapter.MODBUS, settings=refusing.settings()
        ),
        "closed": battery_home(
            "closed", 52, Meter.Adapter.MODBUS, settings={"host": "127.0.0.1", "port": free_port()}
        ),
        "unplanned": battery_home("unplanned", 53, Meter.Adapter.MODBUS, settings=good.settings()),
        "simulated": battery_home("simulated", 54, Meter.Adapter.SIMULATED),
    }
    for name, (icp, _) in homes.items():
        if name != "unplanned":
            rows = [(current, Decimal(-1), Decimal(0)), (current + HALF, Decimal(1), Decimal(0))]
            dispatch_set(icp_id=icp.pk, rows=rows, now=current)
    report = dispatch_send(meter_ids=[m.pk for _, m in homes.values()], now=now)
    assert report == {"sent": 1, "failed": 2, "skipped": 2}
    # The good device: 1 kWh out in the half hour is 2 kW, 40 % of its 5 kW.
    assert device_state(good) == (3, 4000, -4000, 1800)
    for name in ("refusing", "closed"):
        icp, meter = homes[name]
        meter.refresh_from_db()
        assert meter.dispatch_failed_at == now
        assert plan_of(icp) == {}  # back on self-consumption from the half hour in progress
    assert "write" in Meter.objects.get(pk=homes["refusing"][1].pk).last_dispatch_error
    assert "did not answer" in Meter.objects.get(pk=homes["closed"][1].pk).last_dispatch_error
    assert len(plan_of(homes["good"][0])) == 2
    assert len(plan_of(homes["simulated"][0])) == 2
    good_meter = Meter.objects.get(pk=homes["good"][1].pk)
    assert (good_meter.last_dispatch_error, good_meter.dispatch_failed_at) == ("", None)


def device_state(device):
    mode = device.registers(STORCTL_MOD)[0]
    out_raw, in_raw, _, revert = device.registers(OUT_W_RTE, 4)
    return mode, signed(out_raw), signed(in_raw), revert


# --- MQTT -----------------------------------------------------------------------------------


class Subscriber:
    def __init__(self, host, port, topic):
        self.messages = queue.Queue()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.qos, m.payload))
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.connect(host, port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        assert self.subscribed.wait(5)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.mark.django_db
def test_dispatch_send_publishes_the_setpoint_on_the_command_topic(mqtt_broker):
    host, port = mqtt_broker
    topic = f"hapori-test/{uuid.uuid4().hex}/battery/set"
    now = dt.datetime.now(dt.UTC)
    current = now - (now - dt.datetime(2020, 1, 1, tzinfo=dt.UTC)) % HALF
    settings = {"host": host, "port": port}
    listening = battery_home(
        "listening", 60, Meter.Adapter.MQTT, settings=settings, command_topic=topic
    )
    deaf = battery_home("deaf", 61, Meter.Adapter.MQTT, settings=settings)
    away = battery_home(
        "away",
        62,
        Meter.Adapter.MQTT,
        settings={"host": "127.0.0.1", "port": free_port()},
        command_topic=topic,
    )
    for icp, _ in (listening, deaf, away):
        rows = [(current, Decimal("-1.25"), Decimal(0)), (current + HALF, Decimal(0), Decimal(0))]
        dispatch_set(icp_id=icp.pk, rows=rows, now=current)
    subscriber = Subscriber(host, port, topic)
    try:
        report = dispatch_send(meter_ids=[m.pk for _, m in (listening, deaf, away)], now=now)
        got_topic, qos, payload = subscriber.messages.get(timeout=5)
    finally:
        subscriber.close()
    assert report == {"sent": 1, "failed": 1, "skipped": 1}
    assert (got_topic, qos) == (topic, 1)
    assert json.loads(payload) == {
        "battery_w": -2500,
        "ev_w": 0,
        "interval_start": current.isoformat(),
        "valid_until": (current + HALF).isoformat(),
    }
    deaf_meter = Meter.objects.get(pk=deaf[1].pk)
    assert "no MQTT command topic" in deaf_meter.last_dispatch_error
    assert deaf_meter.dispatch_failed_at == now
    assert plan_of(deaf[0]) == {}
    assert "did not answer" in Meter.objects.get(pk=away[1].pk).last_dispatch_error
    assert plan_of(away[0]) == {}
    assert len(plan_of(listening[0])) == 2
