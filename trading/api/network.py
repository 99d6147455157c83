"""The distributor's time-value network prices in the API: every feeder's price now, and one
feeder's outlook for the coming hours. Read-only; any member may read any feeder's prices."""

from __future__ import annotations

import re

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from coop.models import Feeder
from coop.selectors import member_of_request
from trading import network_selectors
from trading.models import PRICE, FeederPrice

MAX_HOURS = 48
HOURS_MESSAGE = f"hours must be a whole number from 1 to {MAX_HOURS}."
_WHOLE = re.compile(r"[0-9]{1,3}")


def _price(help_text: str, *, null: bool = False) -> serializers.DecimalField:
    return serializers.DecimalField(**PRICE, allow_null=null, help_text=help_text)


class FeederNowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    transformer = serializers.CharField(allow_null=True)
    rating_kva = serializers.DecimalField(
        max_digits=7, decimal_places=1, allow_null=True, help_text="The transformer's rating."
    )
    price_c = _price("Import price now, c/kWh excluding GST.", null=True)
    export_credit_c = _price("Export credit now, c/kWh.", null=True)
    loading_pct = serializers.DecimalField(
        max_digits=6, decimal_places=1, allow_null=True, help_text="Forecast transformer loading."
    )
    # `source` shadows Field.source in the stubs only: DRF's metaclass takes declared fields.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=FeederPrice.Source.choices, allow_null=True
    )


class FeederPriceSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="The trading period's start, UTC.")
    start_nz = serializers.DateTimeField(help_text="The same instant with the NZ offset.")
    trading_period = serializers.IntegerField(min_value=1, max_value=50)
    price_c = _price("Import price, c/kWh excluding GST.")
    export_credit_c = _price("Paid for export, c/kWh.")
    loading_pct = serializers.DecimalField(max_digits=6, decimal_places=1, allow_null=True)
    v_min_pu = serializers.DecimalField(max_digits=5, decimal_places=4, allow_null=True)
    v_max_pu = serializers.DecimalField(max_digits=5, decimal_places=4, allow_null=True)
    reverse_flow_kw = serializers.DecimalField(max_digits=9, decimal_places=2, allow_null=True)
    forecast_kw = serializers.DecimalField(max_digits=9, decimal_places=2)
    source = serializers.ChoiceField(choices=FeederPrice.Source.choices)  # type: ignore[assignment]
    firm = serializers.BooleanField(help_text="Fixed at gate closure: the price it trades on.")


class FeederListView(APIView):
    @extend_schema(
        operation_id="network_feeders_list",
        responses=FeederNowSerializer(many=True),
        description="Every LV feeder with its transformer and its time-value network price "
        "for the trading period now (nulls where it has none).",
    )
    def get(self, request: Request) -> Response:
        member_of_request(request)
        rows = network_selectors.feeders_now(timezone.now())
        return Response(FeederNowSerializer(rows, many=True).data)


def _hours(request: Request) -> int:
    text = request.query_params.get("hours")
    if text is None:
        return MAX_HOURS
    if not _WHOLE.fullmatch(text) or not 1 <= int(text) <= MAX_HOURS:
        raise ValidationError({"detail": HOURS_MESSAGE, "hours": [HOURS_MESSAGE]})
    return int(text)


class FeederPricesView(APIView):
    @extend_schema(
        operation_id="network_feeder_prices",
        parameters=[
            OpenApiParameter(
                "hours",
                {"type": "integer", "minimum": 1, "maximum": MAX_HOURS},
                OpenApiParameter.QUERY,
                description=f"How far ahead, 1 to {MAX_HOURS} hours (default {MAX_HOURS}).",
            )
        ],
        responses=FeederPriceSerializer(many=True),
        description="The feeder's time-value network price for each trading period of the "
        "coming hours, with the forecast power flow it came from.",
    )
    def get(self, request: Request, feeder_id: int) -> Response:
        member_of_request(request)
        hours = _hours(request)
        feeder = get_object_or_404(Feeder, pk=feeder_id)
        rows = network_selectors.feeder_outlook(feeder.pk, timezone.now(), hours)
        return Response(FeederPriceSerializer(rows, many=True).data)
