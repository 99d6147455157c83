"""The meter's admin form, one per adapter kind: each kind's settings as fields of their own,
checked, and written to `Meter.settings` (the JSON the readers in metering.adapters.devices
take). Keys this form does not know (set by hand or by a script) are kept as they were."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.core.exceptions import ValidationError

from metering.adapters.devices import NZ_ZONE
from metering.models import Meter

ENERGY, POWER = "energy", "power"
MEASURES = [
    (ENERGY, "Energy registers (kWh totals)"),
    (POWER, "Power (W, + import, - export)"),
]


def validate_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not a time zone, e.g. {NZ_ZONE}") from exc


def validate_path(value: str) -> None:
    """A dotted path into the device's JSON, e.g. emeters.0.total."""
    if not value or any(not part for part in value.split(".")) or " " in value:
        raise ValidationError(f"{value!r} is not a dotted path such as emeters.0.total")


def _host() -> forms.CharField:
    return forms.CharField(max_length=255, help_text="Host name or IP address.")


def _port(default: int) -> forms.IntegerField:
    return forms.IntegerField(min_value=1, max_value=65535, initial=default)


def _zone() -> forms.CharField:
    return forms.CharField(
        required=False,
        initial=NZ_ZONE,
        validators=[validate_zone],
        help_text="The zone of the device's clock, for a time without an offset.",
    )


def _path(default: str, help_text: str = "", required: bool = True) -> forms.CharField:
    return forms.CharField(
        max_length=200,
        required=required,
        initial=default or None,
        validators=[validate_path],
        help_text=help_text or "Dotted path into the JSON, e.g. emeters.0.total.",
    )


class MeterForm(forms.ModelForm):
    """The fields every meter has; a kind's form adds its settings fields (`setting_fields`:
    the form field's name, which is the settings key)."""

    setting_fields: ClassVar[tuple[str, ...]] = ()
    adapter_kind: ClassVar[str] = ""

    class Meta:
        model = Meter
        fields: tuple[str, ...] = ("icp", "adapter")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = self.instance.settings or {}
        if "adapter" in self.fields:
            self.fields[
                "adapter"
            ].help_text = (
                "To change the kind, choose it and save: the new kind's settings are asked next."
            )
        # A meter of another kind keeps nothing of its old settings' values in this form.
        if self.instance.pk and self.instance.adapter == self.adapter_kind:
            for name in self.setting_fields:
                if name in stored:
                    self.initial[name] = stored[name]

    def settings_from(self, data: dict[str, Any]) -> dict[str, Any]:
        """The settings JSON from the cleaned fields: blank optional fields are left out, a
        decimal is kept as its text (JSON has no exact decimals)."""
        return {
            name: str(data[name]) if isinstance(data[name], Decimal) else data[name]
            for name in self.setting_fields
            if data.get(name) not in (None, "")
        }

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if self.setting_fields and not any(name in self.data for name in self.setting_fields):
            # The kind was changed on a page that showed another kind's settings.
            raise ValidationError(
                f"Fill in the settings of a {Meter.Adapter(self.adapter_kind).label} meter below."
            )
        # The settings JSON: this kind's keys from the form, other kinds' keys dropped, keys
        # no form knows kept.
        known = set(ALL_SETTING_KEYS)
        kept = {k: v for k, v in (self.instance.settings or {}).items() if k not in known}
        self.instance.settings = {**kept, **self.settings_from(data)}
        return data


class PlainMeterForm(MeterForm):
    """A simulated household or an EIEP-files-only meter: nothing to connect to."""


def _modulus() -> forms.DecimalField:
    return forms.DecimalField(
        required=False,
        min_value=1,
        max_digits=14,
        decimal_places=3,
        help_text="kWh at which the meter's register rolls over to zero (empty: it does not).",
    )


def _stale() -> forms.IntegerField:
    return forms.IntegerField(
        required=False,
        min_value=30,
        help_text="A device time older than this many seconds is a miss (empty: 600).",
    )


class ModbusMeterForm(MeterForm):
    adapter_kind = Meter.Adapter.MODBUS
    host = _host()
    port = _port(502)
    unit_id = forms.IntegerField(
        label="unit id", min_value=0, max_value=255, initial=1, help_text="The Modbus unit."
    )
    sunspec_base = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=65535,
        help_text="Where the SunSpec model chain starts (empty: 40000).",
    )
    storage_control = forms.ChoiceField(
        choices=[
            ("window", "window: both limits enabled (StorCtl_Mod 3)"),
            ("mode", "mode: only the direction's own limit"),
        ],
        initial="window",
        help_text="How the battery setpoint is written (SunSpec storage model 124).",
    )
    register_modulus = _modulus()
    stale_after_seconds = _stale()
    setting_fields = (
        "host",
        "port",
        "unit_id",
        "sunspec_base",
        "storage_control",
        "register_modulus",
        "stale_after_seconds",
    )


class MQTTMeterForm(MeterForm):
    adapter_kind = Meter.Adapter.MQTT
    host = _host()
    port = _port(1883)
    topic = forms.CharField(max_length=200, help_text="Where the meter publishes its readings.")
    style = forms.ChoiceField(
        choices=[("shelly", "Shelly (Gen2 EM JSON)"), ("tasmota", "Tasmota (SENSOR JSON)")],
        initial="shelly",
    )
    measures = forms.ChoiceField(choices=MEASURES, initial=ENERGY)
    timezone = _zone()
    register_modulus = _modulus()
    stale_after_seconds = _stale()
    setting_fields = (
        "host",
        "port",
        "topic",
        "style",
        "measures",
        "timezone",
        "register_modulus",
        "stale_after_seconds",
    )

    class Meta(MeterForm.Meta):
        fields = ("icp", "adapter", "command_topic")

    def clean_topic(self) -> str:
        topic = str(self.cleaned_data["topic"]).strip()
        if "#" in topic or "+" in topic:
            raise ValidationError("One meter reads one topic: no + or # wildcards.")
        return topic


class HTTPMeterForm(MeterForm):
    adapter_kind = Meter.Adapter.HTTP
    url = forms.URLField(
        label="URL", max_length=500, assume_scheme="http", help_text="GET returns JSON."
    )
    measures = forms.ChoiceField(choices=MEASURES, initial=ENERGY)
    import_field = _path("import_kwh", required=False)
    export_field = _path("export_kwh", required=False)
    unit = forms.ChoiceField(choices=[("kWh", "kWh"), ("Wh", "Wh")], initial="kWh")
    power_field = _path("power_w", "Dotted path of the power in W (for power).", required=False)
    time_field = _path("", "Dotted path of the device's time (empty: the poll time).", False)
    timezone = _zone()
    register_modulus = _modulus()
    stale_after_seconds = _stale()
    setting_fields = (
        "url",
        "measures",
        "import_field",
        "export_field",
        "unit",
        "power_field",
        "time_field",
        "timezone",
        "register_modulus",
        "stale_after_seconds",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        needed = (
            ("power_field",) if data.get("measures") == POWER else ("import_field", "export_field")
        )
        for name in needed:
            if not data.get(name) and name not in self.errors:
                self.add_error(name, "Needed for what this meter measures.")
        return data


FORMS: dict[str, type[MeterForm]] = {
    Meter.Adapter.SIMULATED: PlainMeterForm,
    Meter.Adapter.FILE: PlainMeterForm,
    Meter.Adapter.MODBUS: ModbusMeterForm,
    Meter.Adapter.MQTT: MQTTMeterForm,
    Meter.Adapter.HTTP: HTTPMeterForm,
}
ALL_SETTING_KEYS = sorted({name for form in FORMS.values() for name in form.setting_fields})


def meter_form(adapter: str | None) -> type[MeterForm]:
    """The form for a kind of meter (a simulated household's when unknown)."""
    return FORMS.get(adapter or "", PlainMeterForm)
