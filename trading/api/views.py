"""The market's REST API. Every endpoint acts as the signed-in member and only on their rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from coop.selectors import member_of_request
from trading import selectors
from trading.api.authentication import AUTHENTICATION, acting_member
from trading.api.idempotency import idempotent
from trading.api.serializers import (
    OrderAmendSerializer,
    OrderCreateSerializer,
    OrderSerializer,
    PeriodSerializer,
    StandingOrderSerializer,
    TradeSerializer,
)
from trading.models import Order, StandingOrder, TradingPeriod
from trading.services import orders as order_services
from trading.services import standing_rules


def _as_api_error(
    exc: ValidationError | DjangoPermissionDenied,
) -> PermissionDenied | ApiValidationError:
    if isinstance(exc, DjangoPermissionDenied):
        return PermissionDenied(str(exc))
    detail = exc.message_dict if hasattr(exc, "message_dict") else exc.messages
    return ApiValidationError(detail)


class PeriodViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = PeriodSerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[TradingPeriod]:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
        return TradingPeriod.objects.filter(end__gt=since).order_by("start")


@extend_schema_view(
    create=extend_schema(request=OrderCreateSerializer, responses={201: OrderSerializer}),
    partial_update=extend_schema(request=OrderAmendSerializer, responses=OrderSerializer),
    destroy=extend_schema(
        request=None, responses={200: OrderSerializer}, description="Cancel an order."
    ),
)
class OrderViewSet(viewsets.ViewSet):
    serializer_class = OrderSerializer
    queryset = Order.objects.none()  # for the schema only; every method scopes to the member
    lookup_value_regex = "[0-9]+"  # /api/orders/abc/ is a 404, not a failed integer lookup
    authentication_classes = AUTHENTICATION

    def list(self, request: Request) -> Response:
        orders = selectors.orders_of(acting_member(request))[:500]
        return Response(OrderSerializer(orders, many=True).data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        order = get_object_or_404(Order, pk=pk, member=acting_member(request))
        return Response(OrderSerializer(order).data)

    @idempotent
    def create(self, request: Request) -> Response:
        member = acting_member(request)
        data = OrderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            # The period and the ICP as the client named them: the service reads both with the
            # locks it takes (one statement), and refuses an ICP that is not the member's.
            order = order_services.order_place(
                member=member,
                icp=values["icp"],
                period=values["period"],
                side=values["side"],
                energy_kwh=values["energy_kwh"],
                limit_price_c=values["limit_price_c"],
            )
        except order_services.NoSuchPeriod:
            raise ApiValidationError({"period": "No such trading period."}) from None
        except (ValidationError, DjangoPermissionDenied) as exc:
            raise _as_api_error(exc) from exc
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)

    @idempotent
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        member = acting_member(request)
        order = get_object_or_404(Order, pk=pk, member=member)
        data = OrderAmendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            order = order_services.order_amend(member=member, order=order, **data.validated_data)
        except (ValidationError, DjangoPermissionDenied) as exc:
            raise _as_api_error(exc) from exc
        return Response(OrderSerializer(order).data)

    @idempotent
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        member = acting_member(request)
        order = get_object_or_404(Order, pk=pk, member=member)
        try:
            order = order_services.order_cancel(member=member, order=order)
        except ValidationError as exc:
            raise _as_api_error(exc) from exc
        return Response(OrderSerializer(order).data)


class StandingOrderViewSet(viewsets.ViewSet):
    serializer_class = StandingOrderSerializer
    queryset = StandingOrder.objects.none()  # for the schema only
    lookup_value_regex = "[0-9]+"  # /api/orders/abc/ is a 404, not a failed integer lookup

    def list(self, request: Request) -> Response:
        member = member_of_request(request)
        rules = selectors.standing_orders_of(member)
        return Response(StandingOrderSerializer(rules, many=True, member=member).data)

    def _save(
        self, request: Request, instance: StandingOrder | None = None, partial: bool = False
    ) -> dict[str, Any]:
        member = member_of_request(request)
        data = StandingOrderSerializer(instance, data=request.data, member=member, partial=partial)
        data.is_valid(raise_exception=True)
        standing = instance or StandingOrder()
        for field, value in data.validated_data.items():
            setattr(standing, field, value)
        try:
            standing_rules.standing_order_save(member=member, standing=standing)
        except (ValidationError, DjangoPermissionDenied) as exc:
            raise _as_api_error(exc) from exc
        return StandingOrderSerializer(standing, member=member).data

    @idempotent
    def create(self, request: Request) -> Response:
        return Response(self._save(request), status=status.HTTP_201_CREATED)

    @idempotent
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        instance = get_object_or_404(StandingOrder, pk=pk, member=member_of_request(request))
        return Response(self._save(request, instance, partial=True))

    @idempotent
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        member = member_of_request(request)
        standing = get_object_or_404(StandingOrder, pk=pk, member=member)
        standing_rules.standing_order_delete(member=member, standing=standing)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TradeViewSet(viewsets.ViewSet):
    serializer_class = TradeSerializer

    def list(self, request: Request) -> Response:
        member = member_of_request(request)
        trades = selectors.trades_of(member)[:500]
        return Response(TradeSerializer(trades, many=True, context={"member": member}).data)


class StatementView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Statement",
            {
                "month": serializers.CharField(),
                "periods": serializers.IntegerField(),
                **{
                    name: serializers.DecimalField(max_digits=16, decimal_places=6)
                    for name in selectors.TOTALS
                },
                # Given to and received from the hardship pool, shared with and received from
                # partners: kWh, what was paid for the energy, and its value at the market price.
                **{
                    name: serializers.DecimalField(max_digits=16, decimal_places=6)
                    for name in selectors.Sharing().totals()
                },
            },
        )
    )
    def get(self, request: Request, month: str) -> Response:
        member = member_of_request(request)
        try:
            first = selectors.month_parse(month)
        except ValueError as exc:
            raise NotFound(str(exc)) from None
        s = selectors.statement_for(member, first)
        return Response({"month": month, "periods": s.periods, **s.totals(), **s.sharing.totals()})
