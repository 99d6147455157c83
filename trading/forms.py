from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from coop.models import ICP, Member
from trading.models import Order, StandingOrder, TradingPeriod

MIDNIGHT = dt.time(0, 0)


def period_words(period: TradingPeriod) -> str:
    """A period as residents read it: "Tue 01 Dec TP43 (21:00-21:30)", NZ times."""
    return f"{period.trading_date:%a %d %b} TP{period.number} ({_hours(period)})"


def _hours(period: TradingPeriod) -> str:
    return f"{_local(period.start)}-{_local(period.end)}"


class PeriodChoiceField(forms.ModelChoiceField):
    """Trading periods by their day, number and NZ wall-clock times."""

    def label_from_instance(self, obj: TradingPeriod) -> str:
        return period_words(obj)


def _grouped(periods: Iterable[TradingPeriod]) -> list[tuple[str, list[tuple[int, str]]]]:
    """The periods as <optgroup>s, one per NZ trading day, in order."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for period in periods:
        day = f"{period.trading_date:%a %d %b}"
        groups.setdefault(day, []).append((period.pk, f"TP{period.number} ({_hours(period)})"))
    return list(groups.items())


class OrderForm(forms.Form):
    period = PeriodChoiceField(
        queryset=TradingPeriod.objects.none(), label="Trading period", empty_label=None
    )
    icp = forms.ModelChoiceField(queryset=ICP.objects.none(), label="ICP")
    side = forms.ChoiceField(choices=Order.Side.choices)
    energy_kwh = forms.DecimalField(label="kWh", max_digits=12, decimal_places=3, min_value=0.001)
    limit_price_c = forms.DecimalField(label="Limit (c/kWh)", max_digits=10, decimal_places=4)

    def __init__(
        self, *args: Any, member: Member, periods: QuerySet[TradingPeriod], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        icp_field = cast("forms.ModelChoiceField[ICP]", self.fields["icp"])
        own_icps = ICP.objects.filter(member=member)
        icp_field.queryset = own_icps
        period_field = cast(PeriodChoiceField, self.fields["period"])
        # Any period validates, so one that closed while the form was open reaches the service
        # and is refused with the reason (gate closed at ...), not "Select a valid choice";
        # only the open ones are offered, grouped by day, the next one chosen.
        period_field.queryset = TradingPeriod.objects.all()
        self.offered = list(periods)
        period_field.widget.choices = _grouped(self.offered)
        if self.offered:
            period_field.initial = self.offered[0].pk
        icps = list(own_icps[:2])
        if len(icps) == 1:  # most members have one ICP: choose it for them
            icp_field.initial = icps[0].pk
            icp_field.empty_label = None


def _local(instant: dt.datetime) -> str:
    return timezone.localtime(instant).strftime("%H:%M")


class StandingOrderForm(forms.ModelForm):
    all_day = forms.BooleanField(
        required=False,
        label="All day",
        help_text="Tick for a rule that applies around the clock; the hours are then ignored.",
    )

    class Meta:
        model = StandingOrder
        fields = [
            "icp",
            "side",
            "limit_price_c",
            "max_kwh",
            "days",
            "start_time",
            "end_time",
            "flexible_load",
            "active",
        ]
        labels = {
            "icp": "ICP",
            "limit_price_c": "Limit (c/kWh)",
            "max_kwh": "At most (kWh per half hour)",
            "start_time": "From (NZ time)",
            "end_time": "Until (NZ time)",
            "flexible_load": "Flexible",
        }
        help_texts = {
            "limit_price_c": "Sell at or above / buy at or below this energy price, c/kWh "
            "excluding GST, before the network charge and co-op fee.",
            "days": "Days of the week it applies: All, Mon-Fri, Sat,Sun or a list such as "
            "Mon,Wed,Fri.",
            "start_time": "On the hour or half hour.",
            "end_time": "An end before the start wraps past midnight: 22:00 until 06:00 runs "
            "overnight into the next morning. The same time as the start is refused; tick "
            "All day instead.",
            "flexible_load": "For a battery or EV that can charge at any time in the window: "
            "buy only in the cheaper half of its periods (by your feeder's network price), "
            "not in every one.",
        }
        widgets = {
            "start_time": forms.TimeInput(attrs={"type": "time", "step": 1800}),
            "end_time": forms.TimeInput(attrs={"type": "time", "step": 1800}),
        }

    def __init__(self, *args: Any, member: Member, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast("forms.ModelChoiceField[ICP]", self.fields["icp"]).queryset = ICP.objects.filter(
            member=member
        )
        for name in ("start_time", "end_time"):
            self.fields[name].required = False  # not needed when All day is ticked
        if self.instance.pk and self.instance.start_time == self.instance.end_time:
            self.fields["all_day"].initial = True
        self.order_fields(
            [*self.Meta.fields[:7], "all_day", *self.Meta.fields[7:]]  # all day after the hours
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("all_day"):
            data["start_time"] = data["end_time"] = MIDNIGHT
            return data
        start, end = data.get("start_time"), data.get("end_time")
        for name, value in (("start_time", start), ("end_time", end)):
            if value is None and name not in self.errors:
                self.add_error(name, "Give a time, or tick All day.")
        if start is not None and start == end:
            self.add_error(
                "end_time",
                f"The rule would start and stop at {start:%H:%M}. Choose when it stops (an "
                "earlier time wraps past midnight), or tick All day for a rule that runs "
                "around the clock.",
            )
        return data
