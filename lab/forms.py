"""The lab page's forms: a scenario as YAML with the most-changed settings as fields, and a
sweep's setting and values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml
from django import forms
from django.core.exceptions import ValidationError

from lab.core.results import BATTERIES, BATTERY_LABELS, MECHANISM_LABELS, MECHANISMS
from lab.core.scenario import ScenarioError, parse
from lab.models import Scenario, parse_for_site
from lab.services import MAX_SWEEP_VALUES, SWEEPABLE

EXAMPLE = """name: My study
seed: 7
community:
  homes: 60
  mix: {pv: 0.5, battery: 0.25, ev: 0.3}
span: {from: 2026-06-01, to: 2026-06-07}
data:
  synthetic_prices: true
designs:
  mechanisms: [retailer_only, uniform, pay_as_bid, mid_market, time_value]
  batteries: [none, self_consumption]
  time_value: [false]
"""


class ScenarioForm(forms.ModelForm):
    """The YAML is the scenario; the fields below it, when filled, are written into it."""

    homes = forms.IntegerField(required=False, min_value=1, max_value=20_000)
    pv_share = forms.FloatField(required=False, min_value=0, max_value=1, label="PV share")
    battery_share = forms.FloatField(required=False, min_value=0, max_value=1)
    ev_share = forms.FloatField(required=False, min_value=0, max_value=1, label="EV share")
    span_from = forms.DateField(required=False, label="From")
    span_to = forms.DateField(required=False, label="To")
    mechanisms = forms.MultipleChoiceField(
        required=False,
        choices=[(m, MECHANISM_LABELS[m]) for m in MECHANISMS],
        widget=forms.CheckboxSelectMultiple,
    )
    batteries = forms.MultipleChoiceField(
        required=False,
        choices=[(b, BATTERY_LABELS[b]) for b in BATTERIES],
        widget=forms.CheckboxSelectMultiple,
    )
    time_value = forms.MultipleChoiceField(
        required=False,
        label="Time-value network price",
        choices=[("off", "off"), ("on", "on")],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Scenario
        fields = ["name", "text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 24, "spellcheck": "false"})}

    QUICK = {
        "homes": ("community", "homes"),
        "pv_share": ("community", "mix", "pv"),
        "battery_share": ("community", "mix", "battery"),
        "ev_share": ("community", "mix", "ev"),
        "span_from": ("span", "from"),
        "span_to": ("span", "to"),
        "mechanisms": ("designs", "mechanisms"),
        "batteries": ("designs", "batteries"),
        "time_value": ("designs", "time_value"),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance.pk and not self.initial.get("text"):
            self.initial["text"] = EXAMPLE
        try:
            current = parse(self.initial.get("text") or self.instance.text or EXAMPLE)
        except ScenarioError:
            return
        c = current.community
        self.initial.update(
            {
                "homes": c.homes,
                "pv_share": c.mix.pv,
                "battery_share": c.mix.battery,
                "ev_share": c.mix.ev,
                "span_from": current.first,
                "span_to": current.last,
                "mechanisms": sorted({d.mechanism for d in current.designs}),
                "batteries": sorted({d.battery for d in current.designs}),
                "time_value": sorted({"on" if d.time_value else "off" for d in current.designs}),
            }
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        text = data.get("text")
        if not text:
            return data
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError:
            raw = None
        if isinstance(raw, dict):
            for field, path in self.QUICK.items():
                value = data.get(field)
                if value in (None, "", []) or field not in self.changed_data:
                    continue
                if isinstance(value, dt.date):
                    value = value.isoformat()
                if field == "time_value":
                    value = [v == "on" for v in value]
                node = raw
                for key in path[:-1]:
                    node = node.setdefault(key, {}) if isinstance(node, dict) else node
                if isinstance(node, dict):
                    node[path[-1]] = value
            text = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
        try:
            parse_for_site(text)
        except ScenarioError as exc:
            raise ValidationError({"text": exc.errors}) from exc
        data["text"] = text
        return data


class SweepForm(forms.Form):
    setting = forms.ChoiceField(choices=[(s, s) for s in SWEEPABLE])
    values = forms.CharField(
        help_text="Comma-separated, e.g. 0, 0.25, 0.5, 0.75, 1",
        widget=forms.TextInput(attrs={"placeholder": "0, 0.25, 0.5, 0.75, 1"}),
    )

    def clean_values(self) -> list[float | int]:
        parts = [p.strip() for p in self.cleaned_data["values"].split(",") if p.strip()]
        if not parts or len(parts) > MAX_SWEEP_VALUES:
            raise ValidationError(f"Give 1 to {MAX_SWEEP_VALUES} values, separated by commas.")
        values: list[float | int] = []
        for part in parts:
            try:
                number = float(part)
            except ValueError:
                raise ValidationError(f"{part!r} is not a number.") from None
            values.append(int(number) if number.is_integer() and "." not in part else number)
        return values
