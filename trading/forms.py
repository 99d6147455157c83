from django import forms

from coop.models import ICP
from trading.models import Order, StandingOrder, TradingPeriod


class OrderForm(forms.Form):
    period = forms.ModelChoiceField(queryset=TradingPeriod.objects.none(), label="Trading period")
    icp = forms.ModelChoiceField(queryset=ICP.objects.none(), label="ICP")
    side = forms.ChoiceField(choices=Order.Side.choices)
    energy_kwh = forms.DecimalField(label="kWh", max_digits=12, decimal_places=3, min_value=0.001)
    limit_price_c = forms.DecimalField(label="Limit (c/kWh)", max_digits=10, decimal_places=4)

    def __init__(self, *args, member, periods, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["icp"].queryset = ICP.objects.filter(member=member)
        self.fields["period"].queryset = periods
        icps = list(self.fields["icp"].queryset[:2])
        if len(icps) == 1:  # most members have one ICP: choose it for them
            self.fields["icp"].initial = icps[0].pk
            self.fields["icp"].empty_label = None
        self.fields["period"].label_from_instance = lambda p: (
            f"{p.trading_date:%a %d %b} TP{p.number} ({_local(p.start)} to {_local(p.end)})"
        )


def _local(instant) -> str:
    from django.utils import timezone

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

    def __init__(self, *args, member, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["icp"].queryset = ICP.objects.filter(member=member)
