"""Real meters: Modbus TCP (SunSpec), MQTT (Shelly / Tasmota JSON) and HTTP JSON.

Each `read_*` returns the meter's cumulative registers now, as a `Sample`, or raises
`DeviceError` with a reason a person can act on. Turning samples into half-hour energy is
`metering.registers`' job; storing it is the polling service's.

Each `write_*` sends a home's battery controller its `Setpoint` for a half hour (SunSpec
storage model 124 over Modbus TCP, or a JSON message over MQTT), and returns only once the
device has taken it; otherwise it raises `DeviceError`. Which setpoint is the dispatch
service's job (`metering.services.dispatch`).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import requests

from config.payloads import PayloadRefused, json_loads_bounded
from metering.registers import PowerReading, Sample

NZ_ZONE = "Pacific/Auckland"
# A meter's message is a few hundred bytes; a device (a resident's own) that sends more, or
# nests deeper, is refused before it is decoded.
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_PAYLOAD_DEPTH = 16


class DeviceError(Exception):
    """A meter that did not answer, or answered with something that is not a reading."""


class BadPayload(DeviceError):
    """The meter answered, with something that is not a reading: refused data, not a miss."""


@dataclass(frozen=True)
class Setpoint:
    """What a home's devices should do for one half hour: the battery's power at its AC
    terminals (W, + charge, - discharge) and the EV charger's (W)."""

    interval_start: dt.datetime
    battery_w: int
    ev_w: int

    @property
    def valid_until(self) -> dt.datetime:
        return self.interval_start + dt.timedelta(minutes=30)


def _number(value: Any, what: str, *, signed: bool = False) -> Decimal:
    """A register (never negative) or, `signed`, a power that is negative when exporting."""
    if isinstance(value, bool) or value is None:
        raise BadPayload(f"{what} is missing or not a number ({value!r})")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise BadPayload(f"{what} is not a number ({value!r})") from None
    if not number.is_finite() or (number < 0 and not signed):
        kind = "finite" if signed else "finite, non-negative"
        raise BadPayload(f"{what} must be a {kind} number ({value!r})")
    return number


def _path(document: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(document, list) and part.isdigit():
            document = document[int(part)] if int(part) < len(document) else None
        elif isinstance(document, dict):
            document = document.get(part)
        else:
            return None
    return document


# --- MQTT ---------------------------------------------------------------------------------


def device_time(value: Any, zone: str = NZ_ZONE) -> dt.datetime | None:
    """When the meter says it measured: epoch seconds, or ISO 8601 (a time without an offset,
    as Tasmota writes it, is the device's local time in `zone`). None if the payload has none."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    try:
        at = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise BadPayload(f"time {value!r} is neither epoch seconds nor ISO 8601") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(zone))
    return at.astimezone(dt.UTC)


def parse_mqtt_payload(
    payload: bytes | bytearray, style: str, zone: str = NZ_ZONE, *, power: bool = False
) -> tuple[Decimal, Decimal, dt.datetime | None]:
    """(import kWh, export kWh, the device's time if it gave one) from a Shelly or Tasmota
    energy message; with `power`, (signed watts, 0, time): + import, - export."""
    try:
        document = json_loads_bounded(
            bytes(payload), max_bytes=MAX_PAYLOAD_BYTES, max_depth=MAX_PAYLOAD_DEPTH
        )
    except PayloadRefused as exc:
        raise BadPayload(f"MQTT payload is not JSON we accept: {exc} ({payload[:60]!r})") from exc
    if not isinstance(document, dict):
        raise BadPayload("MQTT payload is not a JSON object")
    if style == "shelly":
        # Shelly Gen2 EM / EM1Data: totals in Wh.
        params = document.get("params", document)
        data = params.get("em1data:0", params) if isinstance(params, dict) else {}
        at = device_time(params.get("ts") if isinstance(params, dict) else None)
        if power:
            em1 = params.get("em1:0", params) if isinstance(params, dict) else {}
            return _number(_path(em1, "act_power"), "act_power", signed=True), Decimal(0), at
        imp = _number(_path(data, "total_act_energy"), "total_act_energy") / 1000
        exp = _number(_path(data, "total_act_ret_energy"), "total_act_ret_energy") / 1000
        return imp, exp, at
    if style == "tasmota":
        # Tasmota SENSOR telemetry: ENERGY.Total (kWh imported), ENERGY.ExportActive (kWh).
        energy = document.get("ENERGY")
        if not isinstance(energy, dict):
            raise BadPayload("Tasmota payload has no ENERGY object")
        if power:
            at = device_time(document.get("Time"), zone)
            return _number(energy.get("Power"), "ENERGY.Power", signed=True), Decimal(0), at
        return (
            _number(energy.get("Total"), "ENERGY.Total"),
            _number(energy.get("ExportActive", 0), "ENERGY.ExportActive"),
            device_time(document.get("Time"), zone),
        )
    raise DeviceError(f"unknown MQTT payload style {style!r}; use shelly or tasmota")


def read_mqtt(settings: dict, *, timeout: float = 5.0) -> Sample | PowerReading:
    """Read the meter's last retained energy message from its topic."""
    # Start-up cost: only a worker polling an MQTT meter loads the client.
    import paho.mqtt.client as mqtt

    host, port = settings.get("host", "127.0.0.1"), int(settings.get("port", 1883))
    topic, style = settings.get("topic"), settings.get("style", "shelly")
    if not topic:
        raise DeviceError("the meter has no MQTT topic configured")
    got: dict[str, bytes | bytearray] = {}  # paho's type for a payload
    arrived = threading.Event()

    def on_message(
        client: mqtt.Client,  # noqa: ARG001  (signature fixed by paho)
        userdata: Any,  # noqa: ARG001  (signature fixed by paho)
        message: mqtt.MQTTMessage,
    ) -> None:
        if message.topic == topic:
            got["payload"] = message.payload
            arrived.set()

    # A fresh, clean session each time: a broker that reused an old session would deliver
    # messages for topics this read never asked for.
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"hapori-{uuid.uuid4().hex[:16]}",
        clean_session=True,
    )
    client.on_message = on_message
    try:
        client.connect(host, port, keepalive=10)
    except OSError as exc:
        raise DeviceError(f"MQTT broker {host}:{port} did not answer: {exc}") from exc
    client.subscribe(topic, qos=1)
    client.loop_start()
    try:
        if not arrived.wait(timeout):
            raise DeviceError(f"no retained message on {topic} within {timeout:.0f} s")
    finally:
        client.loop_stop()
        client.disconnect()
    power = settings.get("measures") == "power"
    zone = settings.get("timezone", NZ_ZONE)
    imp, exp, at = parse_mqtt_payload(got["payload"], style, zone, power=power)
    if power:
        return PowerReading(at or dt.datetime.now(dt.UTC), imp)
    return Sample(at or dt.datetime.now(dt.UTC), imp, exp)


def setpoint_message(setpoint: Setpoint) -> bytes:
    """The JSON a battery controller is sent on its command topic."""
    return json.dumps(
        {
            "battery_w": setpoint.battery_w,
            "ev_w": setpoint.ev_w,
            "interval_start": setpoint.interval_start.isoformat(),
            "valid_until": setpoint.valid_until.isoformat(),
        }
    ).encode()


def write_mqtt(settings: dict, topic: str, setpoint: Setpoint, *, timeout: float = 5.0) -> None:
    """Publish the setpoint with QoS 1 on `topic` (not retained: a controller that comes back
    later must not act on an old half hour) and wait, at most `timeout` seconds in all, for
    the broker to acknowledge it."""
    import paho.mqtt.client as mqtt

    host, port = settings.get("host", "127.0.0.1"), int(settings.get("port", 1883))
    if not topic:
        raise DeviceError("the meter has no MQTT command topic configured")
    deadline = time.monotonic() + timeout
    connected = threading.Event()
    refused: list[str] = []

    def on_connect(
        client: mqtt.Client,  # noqa: ARG001  (signature fixed by paho)
        userdata: Any,  # noqa: ARG001  (signature fixed by paho)
        flags: Any,  # noqa: ARG001  (signature fixed by paho)
        reason_code: Any,
        properties: Any,  # noqa: ARG001  (signature fixed by paho)
    ) -> None:
        if reason_code.is_failure:
            refused.append(str(reason_code))
        connected.set()

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"hapori-dispatch-{uuid.uuid4().hex[:16]}",
        clean_session=True,
    )
    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
    except OSError as exc:
        raise DeviceError(f"MQTT broker {host}:{port} did not answer: {exc}") from exc
    client.loop_start()
    try:
        if not connected.wait(max(deadline - time.monotonic(), 0)):
            raise DeviceError(f"MQTT broker {host}:{port} did not accept the connection in time")
        if refused:
            raise DeviceError(f"MQTT broker {host}:{port} refused the connection: {refused[0]}")
        info = client.publish(topic, setpoint_message(setpoint), qos=1)
        try:
            info.wait_for_publish(max(deadline - time.monotonic(), 0.1))
            published = info.is_published()
        except (RuntimeError, ValueError) as exc:
            raise DeviceError(f"MQTT publish on {topic} failed: {exc}") from exc
        if not published:
            raise DeviceError(f"the broker did not acknowledge the setpoint on {topic} in time")
    finally:
        client.disconnect()
        client.loop_stop()


# --- HTTP ---------------------------------------------------------------------------------


def read_http(settings: dict, *, timeout: float = 5.0) -> Sample | PowerReading:
    """GET a JSON document and map its fields: {"url", "import_field", "export_field",
    "unit": "kWh"|"Wh", "time_field"}, or for a meter that reports power {"measures": "power",
    "power_field"} (W, + import, - export); fields are dotted paths, e.g. "emeters.0.total".
    Without a time field the reading is stamped when it was read."""
    url = settings.get("url")
    if not url:
        raise DeviceError("the meter has no URL configured")
    try:
        with requests.get(url, timeout=timeout, stream=True) as response:
            response.raise_for_status()
            # Never more than the cap into memory, however much the device sends.
            body = response.raw.read(MAX_PAYLOAD_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise DeviceError(f"{url} did not answer with a reading: {exc}") from exc
    try:
        document = json_loads_bounded(
            body, max_bytes=MAX_PAYLOAD_BYTES, max_depth=MAX_PAYLOAD_DEPTH
        )
    except PayloadRefused as exc:
        raise BadPayload(f"{url} did not return JSON we accept: {exc} ({body[:60]!r})") from exc
    at = None
    if settings.get("time_field"):
        at = device_time(_path(document, settings["time_field"]), settings.get("timezone", NZ_ZONE))
        if at is None:
            raise BadPayload(f"time field {settings['time_field']!r} is missing")
    if settings.get("measures") == "power":
        field = settings.get("power_field", "power_w")
        return PowerReading(
            at or dt.datetime.now(dt.UTC), _number(_path(document, field), field, signed=True)
        )
    scale = Decimal(1000) if settings.get("unit", "kWh") == "Wh" else Decimal(1)
    imp = (
        _number(_path(document, settings.get("import_field", "import_kwh")), "import field") / scale
    )
    exp = (
        _number(_path(document, settings.get("export_field", "export_kwh")), "export field") / scale
    )
    return Sample(at or dt.datetime.now(dt.UTC), imp, exp)


# --- Modbus TCP, SunSpec ----------------------------------------------------------------------

SUNSPEC_BASE = 40000  # where the 'SunS' marker usually is; a meter's `sunspec_base` setting
SUNS = (0x5375, 0x6E53)  # "SunS"
END_MODEL = 0xFFFF
METER_MODELS = (201, 202, 203, 204)  # single, split, wye and delta meters share this layout
# Offsets within a meter model's body (after its ID and length registers).
TOT_WH_EXP, TOT_WH_IMP, TOT_WH_SF = 36, 44, 52

# SunSpec model 124, "Basic Storage Controls" (sunspec/models json/model_124.json): offsets
# within its body (after ID and L), 24 registers.
STORAGE_MODEL = 124
S_WCHAMAX = 0  # uint16 W, WChaMax_SF: the battery's maximum charge (and discharge) power
S_WCHAGRA = 1  # uint16 % WChaMax/s
S_WDISCHAGRA = 2  # uint16 % WChaMax/s
S_STORCTL_MOD = 3  # bitfield16: bit 0 charge, bit 1 discharge
S_VACHAMAX = 4
S_MINRSVPCT = 5
S_CHASTATE = 6  # % of capacity, ChaState_SF
S_STORAVAL = 7
S_INBATV = 8
S_CHAST = 9  # enum16: 1 off ... 3 discharging, 4 charging, 5 full, 6 holding
S_OUTWRTE = 10  # int16 % of the maximum discharge rate, InOutWRte_SF
S_INWRTE = 11  # int16 % of WChaMax, InOutWRte_SF
S_WINTMS = 12  # uint16 s: window over which the new rate is taken up
S_RVRTTMS = 13  # uint16 s: the rates revert after this (0: never)
S_RMPTMS = 14  # uint16 s
S_CHAGRISET = 15  # enum16: 0 PV only, 1 grid may charge
S_WCHAMAX_SF = 16
S_WCHADISCHAGRA_SF = 17
S_VACHAMAX_SF = 18
S_MINRSVPCT_SF = 19
S_CHASTATE_SF = 20
S_STORAVAL_SF = 21
S_INBATV_SF = 22
S_INOUTWRTE_SF = 23
STORAGE_LENGTH = 24
STORCTL_CHARGE, STORCTL_DISCHARGE = 0b01, 0b10
REVERT_SECONDS = 30 * 60  # a setpoint lapses by itself when no new one follows
NOT_IMPLEMENTED_U16, NOT_IMPLEMENTED_I16 = 0xFFFF, 0x8000


def _acc32(high: int, low: int) -> int:
    return (high << 16) | low


def _sunssf(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


def _int16(value: int) -> int:
    """A signed register value as the 16 bits sent."""
    if not -0x8000 < value < 0x8000:
        raise ValueError(f"{value} does not fit a 16-bit register")
    return value & 0xFFFF


def _find_model(
    read: Callable[[int, int], list[int]], base: int, wanted: Collection[int]
) -> tuple[int, int, int] | None:
    """(model id, address of its ID register, length) of the first of `wanted` in the SunSpec
    model chain that starts at `base`, or None when the chain ends without one."""
    if tuple(read(base, 2)) != SUNS:
        raise DeviceError(f"no SunSpec marker at {base}")
    address = base + 2
    for _ in range(40):
        model_id, length = read(address, 2)
        if model_id == END_MODEL:
            return None
        if model_id in wanted:
            return model_id, address, length
        address += 2 + length
    return None


class _Modbus:
    """One Modbus TCP connection, closed on leaving; every refusal becomes a DeviceError."""

    def __init__(self, settings: dict, timeout: float) -> None:
        from pymodbus.client import ModbusTcpClient

        self.host = settings.get("host", "127.0.0.1")
        self.port = int(settings.get("port", 502))
        self.unit = int(settings.get("unit_id", 1))
        self.base = int(settings.get("sunspec_base", SUNSPEC_BASE))
        self.client = ModbusTcpClient(self.host, port=self.port, timeout=timeout, retries=0)

    def __enter__(self) -> _Modbus:
        if not self.client.connect():
            raise DeviceError(f"Modbus device {self.host}:{self.port} did not answer")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def _check(self, result: Any, what: str) -> Any:
        if result.isError():
            raise DeviceError(f"Modbus {what} failed: {result}")
        return result

    def read(self, address: int, count: int) -> list[int]:
        result = self.client.read_holding_registers(address, count=count, device_id=self.unit)
        return list(self._check(result, f"read of {count} registers at {address}").registers)

    def write(self, address: int, values: list[int]) -> None:
        if len(values) == 1:
            result = self.client.write_register(address, values[0], device_id=self.unit)
        else:
            result = self.client.write_registers(address, values, device_id=self.unit)
        self._check(result, f"write of {len(values)} registers at {address}")


def read_modbus(settings: dict, *, timeout: float = 3.0) -> Sample:
    """Walk the SunSpec model chain from 40000 (or the meter's `sunspec_base`) to the meter
    model and read its energy totals."""
    # Start-up cost: only a worker polling a Modbus meter loads pymodbus.
    from pymodbus.exceptions import ModbusException

    try:
        with _Modbus(settings, timeout) as device:
            found = _find_model(device.read, device.base, METER_MODELS)
            if found is None:
                raise DeviceError("the SunSpec device has no meter model (201-204)")
            _, address, _ = found
            body = device.read(address + 2, TOT_WH_SF + 1)
            scale = Decimal(10) ** _sunssf(body[TOT_WH_SF])
            exp = Decimal(_acc32(body[TOT_WH_EXP], body[TOT_WH_EXP + 1])) * scale / 1000
            imp = Decimal(_acc32(body[TOT_WH_IMP], body[TOT_WH_IMP + 1])) * scale / 1000
            return Sample(dt.datetime.now(dt.UTC), imp, exp)
    except ModbusException as exc:
        raise DeviceError(f"Modbus error: {exc}") from exc


@dataclass(frozen=True)
class StorageCommand:
    """What is written to model 124: StorCtl_Mod and the two rates as register values (the
    rates in units of InOutWRte_SF), and the percentage of WChaMax they stand for."""

    storctl_mod: int
    out_w_rte: int
    in_w_rte: int
    percent: Decimal


def storage_command(
    battery_w: int, w_cha_max: Decimal, rate_sf: int, *, control: str = "window"
) -> StorageCommand:
    """The model 124 registers for a battery power (W, + charge, - discharge).

    The rate is |battery_w| as a percentage of WChaMax (at most 100), in units of the rate
    scale factor. `control` "window" (the default) enables both limits (StorCtl_Mod 3) and
    pins the battery between them: charging p% is InWRte p, OutWRte -p (a discharge limit
    below zero obliges it to charge), discharging is OutWRte p, InWRte -p; zero holds it
    (both 0). "mode" enables only the direction's own limit: charge bit 0 with InWRte p,
    discharge bit 1 with OutWRte p, hold both bits with both rates 0, for a controller that
    reads the bits as modes and refuses negative rates."""
    if w_cha_max <= 0:
        raise DeviceError(f"the storage model's WChaMax is {w_cha_max} W")
    percent = min(abs(Decimal(battery_w)) / w_cha_max * 100, Decimal(100))
    rate = int((percent / Decimal(10) ** rate_sf).to_integral_value())
    both = STORCTL_CHARGE | STORCTL_DISCHARGE
    if rate == 0:
        return StorageCommand(both, 0, 0, Decimal(0))
    charging = battery_w > 0
    if control == "mode":
        if charging:
            return StorageCommand(STORCTL_CHARGE, 0, rate, percent)
        return StorageCommand(STORCTL_DISCHARGE, rate, 0, percent)
    if control != "window":
        raise DeviceError(f"unknown storage control {control!r}; use window or mode")
    if charging:
        return StorageCommand(both, -rate, rate, percent)
    return StorageCommand(both, rate, -rate, percent)


def write_modbus(settings: dict, setpoint: Setpoint, *, timeout: float = 3.0) -> StorageCommand:
    """Find the storage model (124) in the SunSpec chain and write the battery's setpoint:
    the rates with a 30-minute revert timeout first, then StorCtl_Mod, which puts them in
    force. The EV is not a SunSpec storage device: `ev_w` is not sent this way."""
    from pymodbus.exceptions import ModbusException

    try:
        with _Modbus(settings, timeout) as device:
            found = _find_model(device.read, device.base, (STORAGE_MODEL,))
            if found is None:
                raise DeviceError("the SunSpec device has no storage model (124)")
            _, address, length = found
            if length < STORAGE_LENGTH:
                raise DeviceError(f"the storage model is {length} registers, not {STORAGE_LENGTH}")
            body = address + 2
            registers = device.read(body, STORAGE_LENGTH)
            w_cha_max, w_sf = registers[S_WCHAMAX], registers[S_WCHAMAX_SF]
            if w_cha_max == NOT_IMPLEMENTED_U16 or w_sf == NOT_IMPLEMENTED_I16:
                raise DeviceError("the storage model does not give WChaMax")
            rate_sf = registers[S_INOUTWRTE_SF]
            rate_sf = 0 if rate_sf == NOT_IMPLEMENTED_I16 else _sunssf(rate_sf)
            command = storage_command(
                setpoint.battery_w,
                Decimal(w_cha_max) * Decimal(10) ** _sunssf(w_sf),
                rate_sf,
                control=settings.get("storage_control", "window"),
            )
            try:
                rates = [_int16(command.out_w_rte), _int16(command.in_w_rte)]
            except ValueError as exc:
                raise DeviceError(f"the rate does not fit InOutWRte_SF {rate_sf}: {exc}") from exc
            # OutWRte, InWRte, InOutWRte_WinTms (at once), InOutWRte_RvrtTms.
            device.write(body + S_OUTWRTE, [*rates, 0, REVERT_SECONDS])
            device.write(body + S_STORCTL_MOD, [command.storctl_mod])
            return command
    except ModbusException as exc:
        raise DeviceError(f"Modbus error: {exc}") from exc
