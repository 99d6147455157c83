"""The market in the admin: periods and their states (re-run a failed step), orders, trades,
settlement lines, time-value windows and member balances."""

from django.contrib import admin, messages
from django.db.models import Sum

from trading.models import (
    MemberPeriodSummary,
    NetworkPriceWindow,
    Order,
    SettlementLine,
    StandingOrder,
    Trade,
    TradingPeriod,
)
from trading.services import periods


@admin.register(TradingPeriod)
class TradingPeriodAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "start",
        "state",
        "mechanism",
        "clearing_price_c",
        "traded_kwh",
        "network_price_c",
        "has_error",
    )
    list_filter = ("state", "mechanism", "trading_date")
    date_hierarchy = "trading_date"
    search_fields = ("trading_date",)
    readonly_fields = (
        "trading_date",
        "number",
        "start",
        "end",
        "gate_closes_at",
        "state",
        "state_changed_at",
        "mechanism",
        "clearing_price_c",
        "traded_kwh",
        "last_error",
    )
    actions = ["rerun_steps"]

    @admin.display(boolean=True, description="error")
    def has_error(self, obj: TradingPeriod) -> bool:
        return bool(obj.last_error)

    @admin.action(description="Re-run due steps now (failed or missed periods)")
    def rerun_steps(self, request, queryset):
        moved = periods.periods_advance()
        errors = list(queryset.exclude(last_error="").values_list("last_error", flat=True))
        self.message_user(request, f"Moved on: {moved}.")
        for error in errors:
            self.message_user(request, error, level=messages.WARNING)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "period",
        "member",
        "icp",
        "side",
        "energy_kwh",
        "limit_price_c",
        "status",
        "matched_kwh",
    )
    list_filter = ("status", "side")
    search_fields = ("member__display_name", "icp__identifier")
    list_select_related = ("period", "member", "icp")
    raw_id_fields = ("period", "member", "icp", "standing_order")


@admin.register(StandingOrder)
class StandingOrderAdmin(admin.ModelAdmin):
    list_display = (
        "member",
        "icp",
        "side",
        "limit_price_c",
        "max_kwh",
        "days",
        "start_time",
        "end_time",
        "active",
    )
    list_filter = ("side", "active", "flexible_load")
    search_fields = ("member__display_name", "icp__identifier")


@admin.register(Trade)
class TradeAdmin(admin.ModelAdmin):
    list_display = (
        "period",
        "sequence",
        "buyer",
        "seller",
        "energy_kwh",
        "price_c",
        "network_c",
        "fee_c",
    )
    list_select_related = ("period", "buyer", "seller")
    search_fields = ("buyer__display_name", "seller__display_name")
    raw_id_fields = (
        "period",
        "buy_order",
        "sell_order",
        "buyer",
        "seller",
        "buyer_icp",
        "seller_icp",
    )


@admin.register(SettlementLine)
class SettlementLineAdmin(admin.ModelAdmin):
    list_display = ("period", "account", "member", "icp", "kind", "energy_kwh", "amount_nzd")
    list_filter = ("account", "kind")
    search_fields = ("member__display_name", "icp__identifier")
    list_select_related = ("period", "member", "icp")
    raw_id_fields = ("period", "member", "icp", "trade")


@admin.register(MemberPeriodSummary)
class MemberBalanceAdmin(admin.ModelAdmin):
    """Member balances: per period, and totals for whatever the filters select."""

    list_display = (
        "period",
        "member",
        "imported_kwh",
        "exported_kwh",
        "bought_p2p_kwh",
        "sold_p2p_kwh",
        "net_amount_nzd",
        "retailer_only_nzd",
    )
    list_filter = ("period__trading_date",)
    search_fields = ("member__display_name",)
    list_select_related = ("period", "member")

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        try:
            qs = response.context_data["cl"].queryset
        except (AttributeError, KeyError):
            return response
        totals = qs.aggregate(net=Sum("net_amount_nzd"), alone=Sum("retailer_only_nzd"))
        net, alone = totals["net"] or 0, totals["alone"] or 0
        self.message_user(request, f"Selected rows: net {net} NZD; retailer alone {alone} NZD.")
        return response


@admin.register(NetworkPriceWindow)
class NetworkPriceWindowAdmin(admin.ModelAdmin):
    list_display = ("label", "days", "start_time", "end_time", "months", "price_c")
