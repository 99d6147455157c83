from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from coop.models import ICP, Member
from trading.models import Order, StandingOrder, TradingPeriod


class PeriodChoiceField(forms.ModelChoiceField):
    """Trading periods by their day, number and NZ wall-clock times."""

    def label_from_instance(self, obj: TradingPeriod) -> str:
        return (
            f"{obj.trading_date:%a %d %b} TP{obj.number} ({_local(obj.start)} to {_local(obj.end)})"
        )


class OrderForm(forms.Form):
    period = PeriodChoiceField(queryset=TradingPeriod.objects.none(), label="Trading period")
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
        cast(PeriodChoiceField, self.fields["period"]).queryset = periods
        icps = list(own_icps[:2])
        if len(icps) == 1:  # most members have one ICP: choose it for them
            icp_field.initial = icps[0].pk
            icp_field.empty_label = None


def _local(instant: dt.datetime) -> str:

    return timezone.localtime(instant).strftime("%H:%M")


class StandingOrderForm(forms.ModelForm):
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
        widgets = {
            "start_time": forms.TimeInput(attrs={"type": "time", "step": 1800}),
            "end_time": forms.TimeInput(attrs={"type": "time", "step": 1800}),
        }

    def __init__(self, *args: Any, member: Member, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast("forms.ModelChoiceField[ICP]", self.fields["icp"]).queryset = ICP.objects.filter(
            member=member
        )
