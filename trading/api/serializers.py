from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any, cast

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from coop.models import ICP, Member
from trading.models import KWH, PRICE, Order, StandingOrder, Trade, TradingPeriod

ICP_PATTERN = r"^[0-9]{10}[A-Z]{2}[0-9A-F]{3}$"
_ICP_SCHEMA = {
    "type": "string",
    "pattern": ICP_PATTERN,
    "example": "0000012345UNA2F",
    "description": "15 characters: 10 digits, the distributor's 2 letters, a 3-character checksum.",
}
LOCAL_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$")


@extend_schema_field(
    {
        "type": "string",
        "pattern": LOCAL_TIME.pattern,
        "example": "06:00",
        "description": "New Zealand wall-clock time, HH:MM or HH:MM:SS, no zone.",
    }
)
class LocalTimeField(serializers.TimeField):
    """A time of day in NZ: a standing rule follows the local clock through daylight saving, so
    a zone or offset in the input means nothing here and is refused rather than dropped."""

    def to_internal_value(self, value: object) -> dt.time:
        if not isinstance(value, str) or not LOCAL_TIME.match(value):
            raise serializers.ValidationError("Give a time of day as HH:MM, e.g. 06:00.")
        return super().to_internal_value(value)


@extend_schema_field(_ICP_SCHEMA)
class IcpIdentifierField(serializers.CharField):
    """An ICP identifier as text (the view checks that it is the member's)."""


@extend_schema_field(_ICP_SCHEMA)
class IcpField(serializers.SlugRelatedField):
    """One of the member's ICPs, by its identifier."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="identifier", queryset=ICP.objects.none(), **kwargs)


class PeriodSerializer(serializers.ModelSerializer):
    class Meta:
        model = TradingPeriod
        fields = [
            "id",
            "trading_date",
            "number",
            "start",
            "end",
            "gate_closes_at",
            "state",
            "mechanism",
            "clearing_price_c",
            "network_price_c",
            "traded_kwh",
        ]


_KWH_PLACES = Decimal(1).scaleb(-KWH["decimal_places"])
_PRICE_PLACES = Decimal(1).scaleb(-PRICE["decimal_places"])


def _iso(when: dt.datetime) -> str:
    """A time as DRF's DateTimeField writes it: in the site's zone, ISO 8601, UTC as Z."""
    text = timezone.localtime(when).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class OrderSerializer(serializers.ModelSerializer):
    icp = IcpIdentifierField(source="icp.identifier", read_only=True)
    period: serializers.PrimaryKeyRelatedField[TradingPeriod] = serializers.PrimaryKeyRelatedField(
        read_only=True
    )

    def to_representation(self, instance: Order) -> dict[str, Any]:
        """What DRF's field-by-field walk of Meta.fields gives (test_api_speed pins that it is
        equal), written out: every order answer goes through here, and building the fields
        for it cost more than the rest of a placement's Python."""
        return {
            "id": instance.pk,
            "period": instance.period_id,
            "icp": instance.icp.identifier,
            "side": instance.side,
            "energy_kwh": f"{instance.energy_kwh.quantize(_KWH_PLACES):f}",
            "limit_price_c": f"{instance.limit_price_c.quantize(_PRICE_PLACES):f}",
            "status": instance.status,
            "matched_kwh": f"{instance.matched_kwh.quantize(_KWH_PLACES):f}",
            "submitted_at": _iso(instance.submitted_at),
        }

    class Meta:
        model = Order
        fields = [
            "id",
            "period",
            "icp",
            "side",
            "energy_kwh",
            "limit_price_c",
            "status",
            "matched_kwh",
            "submitted_at",
        ]
        read_only_fields = fields


class OrderCreateSerializer(serializers.Serializer):
    period = serializers.IntegerField()
    icp = IcpIdentifierField(max_length=15)
    side = serializers.ChoiceField(choices=Order.Side.choices)
    energy_kwh = serializers.DecimalField(max_digits=12, decimal_places=3)
    limit_price_c = serializers.DecimalField(max_digits=12, decimal_places=4)


class OrderAmendSerializer(serializers.Serializer):
    energy_kwh = serializers.DecimalField(max_digits=12, decimal_places=3, required=False)
    limit_price_c = serializers.DecimalField(max_digits=12, decimal_places=4, required=False)


class StandingOrderSerializer(serializers.ModelSerializer):
    icp = IcpField()
    start_time = LocalTimeField(help_text="NZ local time the rule starts applying.")
    end_time = LocalTimeField(help_text="NZ local time it stops; before the start wraps midnight.")

    class Meta:
        model = StandingOrder
        fields = [
            "id",
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

    def __init__(self, *args: Any, member: Member | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        icp_field = cast(IcpField, self.fields["icp"])
        # drf-stubs types RelatedField.queryset as QuerySet | Manager | None, and django-stubs'
        # Manager.__get__ refuses instance access, so any `field.queryset` is an error to mypy.
        icp_field.queryset = ICP.objects.filter(member=member)  # type: ignore[arg-type]


class TradeSerializer(serializers.ModelSerializer):
    period = PeriodSerializer(read_only=True)
    side = serializers.SerializerMethodField()

    class Meta:
        model = Trade
        fields = [
            "id",
            "period",
            "sequence",
            "side",
            "kind",
            "energy_kwh",
            "price_c",
            "network_c",
            "fee_c",
            "energy_value_nzd",
            "network_value_nzd",
            "fee_value_nzd",
        ]

    def get_side(self, trade: Trade) -> str:
        return "buy" if trade.buyer_id == self.context["member"].pk else "sell"
