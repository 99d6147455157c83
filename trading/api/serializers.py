from rest_framework import serializers

from coop.models import ICP
from trading.models import Order, StandingOrder, Trade, TradingPeriod


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


class OrderSerializer(serializers.ModelSerializer):
    icp = serializers.CharField(source="icp.identifier", read_only=True)
    period = serializers.PrimaryKeyRelatedField(read_only=True)

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
    icp = serializers.CharField(max_length=15)
    side = serializers.ChoiceField(choices=Order.Side.choices)
    energy_kwh = serializers.CharField(max_length=40)
    limit_price_c = serializers.CharField(max_length=40)


class OrderAmendSerializer(serializers.Serializer):
    energy_kwh = serializers.CharField(max_length=40, required=False)
    limit_price_c = serializers.CharField(max_length=40, required=False)


class StandingOrderSerializer(serializers.ModelSerializer):
    icp = serializers.SlugRelatedField(slug_field="identifier", queryset=ICP.objects.none())

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

    def __init__(self, *args, member=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["icp"].queryset = ICP.objects.filter(member=member)


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
            "energy_kwh",
            "price_c",
            "network_c",
            "fee_c",
            "energy_value_nzd",
            "network_value_nzd",
            "fee_value_nzd",
        ]

    def get_side(self, trade) -> str:
        return "buy" if trade.buyer_id == self.context["member"].pk else "sell"
