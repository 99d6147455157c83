"""Real meters: Modbus TCP (SunSpec), MQTT (Shelly / Tasmota JSON) and HTTP JSON.

Each `read_*` returns the meter's cumulative registers now, as a `Sample`, or raises
`DeviceError` with a reason a person can act on. Turning samples into half-hour energy is
`metering.registers`' job; storing it is the polling service's.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
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

SUNSPEC_BASE = 40000
SUNS = (0x5375, 0x6E53)  # "SunS"
METER_MODELS = (201, 202, 203, 204)  # single, split, wye and delta meters share this layout
# Offsets within a meter model's body (after its ID and length registers).
TOT_WH_EXP, TOT_WH_IMP, TOT_WH_SF = 36, 44, 52


def _acc32(high: int, low: int) -> int:
    return (high << 16) | low


def _sunssf(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


def read_modbus(settings: dict, *, timeout: float = 3.0) -> Sample:
    """Walk the SunSpec model chain from 40000 to the meter model and read its energy totals."""
    # Start-up cost: only a worker polling a Modbus meter loads pymodbus.
    from pymodbus.client import ModbusTcpClient
    from pymodbus.exceptions import ModbusException

    host, port = settings.get("host", "127.0.0.1"), int(settings.get("port", 502))
    unit = int(settings.get("unit_id", 1))
    client = ModbusTcpClient(host, port=port, timeout=timeout, retries=0)
    if not client.connect():
        raise DeviceError(f"Modbus device {host}:{port} did not answer")
    try:

        def read(address: int, count: int) -> list[int]:
            result = client.read_holding_registers(address, count=count, device_id=unit)
            if result.isError():
                raise DeviceError(f"Modbus read of {count} registers at {address} failed: {result}")
            return list(result.registers)

        if tuple(read(SUNSPEC_BASE, 2)) != SUNS:
            raise DeviceError(f"no SunSpec marker at {SUNSPEC_BASE}")
        address = SUNSPEC_BASE + 2
        for _ in range(20):
            model_id, length = read(address, 2)
            if model_id == 0xFFFF:
                break
            if model_id in METER_MODELS:
                body = read(address + 2, TOT_WH_SF + 1)
                scale = Decimal(10) ** _sunssf(body[TOT_WH_SF])
                exp = Decimal(_acc32(body[TOT_WH_EXP], body[TOT_WH_EXP + 1])) * scale / 1000
                imp = Decimal(_acc32(body[TOT_WH_IMP], body[TOT_WH_IMP + 1])) * scale / 1000
                return Sample(dt.datetime.now(dt.UTC), imp, exp)
            address += 2 + length
        raise DeviceError("the SunSpec device has no meter model (201-204)")
    except ModbusException as exc:
        raise DeviceError(f"Modbus error: {exc}") from exc
    finally:
        client.close()
