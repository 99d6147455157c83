"""The market in the admin: periods and their states (re-run a failed step), orders, trades,
settlement lines, holds and amendments, time-value windows and member balances, sharing with
partners and the hardship pool (its recipients set here, by staff only); alarms on the home
page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.http import HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from coop import admin_alarms, nz
from trading.energy_models import EnergyManager, EnergyPlan, EVHabit
from trading.models import (
    FeederPrice,
    MemberPeriodSummary,
    NetworkPriceWindow,
    Order,
    SettlementAmendment,
    SettlementHold,
    SettlementLine,
    StandingOrder,
    TimeValueParameters,
    Trade,
    TradingPeriod,
)
from trading.services import corrections, periods, settling, sharing
from trading.services import orders as order_services
from trading.sharing_models import GiftPledge, HardshipRecipient, PartnerCode, Partnership


def red(text: str, title: str = "") -> SafeString:
    """A failure, in red with the admin's red cross: never a green tick."""
    return format_html(
        '<span class="hapori-error" style="color:#ba2121;font-weight:bold" title="{}">'
        '<img src="{}" alt="error" style="vertical-align:middle"> {}</span>',
        title or text,
        static("admin/img/icon-no.svg"),
        text,
    )


class YesNoFilter(admin.SimpleListFilter):
    """A list filter with two choices: the rows matching `matching` ("yes") or the others."""

    options: tuple[tuple[str, str], ...]  # ("yes", label), ("no", label), in the order shown
    matching: Q

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> tuple[tuple[str, str], ...]:
        return self.options

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(self.matching)
        if self.value() == "no":
            return queryset.exclude(self.matching)
        return queryset


class ErrorFilter(YesNoFilter):
    title = "error"
    parameter_name = "error"
    options = (("yes", "With an error"), ("no", "Without"))
    matching = ~Q(last_error="")


class ReadOnlyInline(admin.TabularInline):
    """A record shown beside its parent, never added, changed or deleted from the admin."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records only the system writes (and keeps): listed and shown, never added, changed or
    deleted from the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SettlementAmendmentInline(ReadOnlyInline):
    """The period's re-settlements after corrected readings, oldest first, with their reasons."""

    model = SettlementAmendment
    fields = ("created_at", "period_state", "reason")
    readonly_fields = fields
    verbose_name_plural = "settlement amendments (readings corrected after settlement)"


@admin.register(TradingPeriod)
class TradingPeriodAdmin(admin.ModelAdmin):
    # Few, dense columns: the list fits a 1366 px screen, the error with its message.
    list_display = ("period", "state_shown", "price", "traded_kwh", "open_holds", "has_error")
    list_filter = (ErrorFilter, "state", "mechanism", "trading_date")
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
        "error_shown",
    )
    exclude = ("last_error",)  # shown in red as error_shown
    actions = ["rerun_steps", "resettle"]
    inlines = [SettlementAmendmentInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[TradingPeriod]:
        return (
            super()
            .get_queryset(request)
            .annotate(open_hold_count=Count("holds", filter=Q(holds__resolved_at__isnull=True)))
        )

    @admin.display(description="period", ordering="start")
    def period(self, obj: TradingPeriod) -> str:
        return f"{obj} ({timezone.localtime(obj.start, nz.NZ):%H:%M})"

    @admin.display(description="state", ordering="state")
    def state_shown(self, obj: TradingPeriod) -> str:
        state = obj.get_state_display()
        return f"{state} ({obj.mechanism})" if obj.mechanism else state

    @admin.display(description="price / network c/kWh", ordering="clearing_price_c")
    def price(self, obj: TradingPeriod) -> str:
        """The clearing price and the static network signal, in one cell."""
        cleared = "-" if obj.clearing_price_c is None else f"{obj.clearing_price_c:.2f}"
        return f"{cleared} / {obj.network_price_c:.2f}"

    @admin.display(description="error", ordering="last_error")
    def has_error(self, obj: TradingPeriod) -> SafeString | None:
        # Not a boolean icon: the admin's "True" is a green tick, which read as all-well.
        if not obj.last_error:
            return None
        return format_html(
            '<span style="display:inline-block;min-width:11em;white-space:normal">{}</span>',
            red(Truncator(obj.last_error).chars(70), obj.last_error),
        )

    @admin.display(description="last error")
    def error_shown(self, obj: TradingPeriod) -> SafeString | str:
        """The step's failure in full, in red; the next tick retries it."""
        return red(obj.last_error) if obj.last_error else "none"

    @admin.display(description="held", ordering="open_hold_count")
    def open_holds(self, obj: TradingPeriod) -> SafeString | None:
        count = getattr(obj, "open_hold_count", 0)
        if not count:
            return None
        url = reverse("admin:trading_settlementhold_changelist")
        return format_html(
            '<a href="{}?period__id__exact={}&amp;open=yes">{}</a>',
            url,
            obj.pk,
            red(f"{count} held"),
        )

    @admin.action(description="Re-run due steps now (failed or missed periods)")
    def rerun_steps(self, request: HttpRequest, queryset: QuerySet[TradingPeriod]) -> None:
        moved = periods.periods_advance()
        errors = list(queryset.exclude(last_error="").values_list("last_error", flat=True))
        self.message_user(request, f"Moved on: {moved}.")
        for error in errors:
            self.message_user(request, error, level=messages.WARNING)

    @admin.action(description="Settle again from the current readings (an amendment if changed)")
    def resettle(self, request: HttpRequest, queryset: QuerySet[TradingPeriod]) -> None:
        """What a correction does by itself, by hand: after a failure, or to check a period."""
        reason = f"settled again from the admin by {request.user.get_username()}"
        for period in queryset.filter(state__in=corrections.AMENDABLE).order_by("start"):
            try:
                amendment = corrections.period_resettle(period_id=period.pk, reason=reason)
            except Exception as exc:  # recorded on the period; say so and go on with the rest
                self.message_user(request, f"{period}: {exc}", level=messages.ERROR)
                continue
            outcome = "amended" if amendment else "already matches its readings"
            self.message_user(request, f"{period}: {outcome}.")


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    """Placed by members (the market's rules and locks: trading.services.orders) and cleared by
    the exchange; the admin cancels an open one as its member could, and never adds, edits or
    deletes one by hand (a trade's orders have no database key behind them: Trade)."""

    actions = ["cancel_orders"]
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

    @admin.action(description="Cancel the selected open orders (as their members could)")
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        cancelled = 0
        for order in queryset.filter(status=Order.Status.OPEN).select_related("member", "period"):
            try:
                order_services.order_cancel(member=order.member, order=order)
            except ValidationError as exc:  # its gate has closed meanwhile
                self.message_user(request, f"{order}: {' '.join(exc.messages)}", messages.WARNING)
            else:
                cancelled += 1
        self.message_user(request, f"Cancelled {cancelled} open orders.")


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
class TradeAdmin(ReadOnlyAdmin):
    """Written only by clearing (trading.services.clearing); settled and committed on chain as
    they are, so never added, edited or deleted by hand."""

    list_display = (
        "period",
        "sequence",
        "buyer",
        "seller",
        "energy_kwh",
        "price_c",
        "network_c",
        "fee_c",
        "kind",
    )
    list_filter = ("kind",)
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


class AmendedFilter(YesNoFilter):
    title = "written by"
    parameter_name = "amended"
    options = (("no", "The settlement"), ("yes", "An amendment"))
    matching = Q(amendment__isnull=False)


@admin.register(SettlementLine)
class SettlementLineAdmin(ReadOnlyAdmin):
    """Read-only: a period's lines sum to zero and are its audit trail; a settlement changes
    only by amendment (trading.services.corrections), never by editing a line."""

    list_display = (
        "period",
        "account",
        "member",
        "icp",
        "kind",
        "energy_kwh",
        "amount_nzd",
        "amendment",
    )
    list_filter = (AmendedFilter, "account", "kind")
    search_fields = ("member__display_name", "icp__identifier")
    list_select_related = ("period", "member", "icp", "amendment")
    raw_id_fields = ("period", "member", "icp", "trade", "amendment")


class AmendmentLineInline(ReadOnlyInline):
    model = SettlementLine
    fields = ("account", "member", "icp", "kind", "energy_kwh", "amount_nzd", "trade")
    readonly_fields = fields
    verbose_name_plural = "lines added (differences from the lines before)"


@admin.register(SettlementAmendment)
class SettlementAmendmentAdmin(ReadOnlyAdmin):
    """Periods settled again after their readings were corrected: read-only, as the lines are."""

    list_display = ("period", "created_at", "period_state", "reason", "line_count")
    list_filter = ("period_state", "period__trading_date")
    search_fields = ("reason",)
    list_select_related = ("period",)
    date_hierarchy = "created_at"
    fields = ("period", "created_at", "period_state", "reason")
    readonly_fields = fields
    inlines = [AmendmentLineInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SettlementAmendment]:
        return super().get_queryset(request).annotate(line_count=Count("lines"))

    @admin.display(description="lines", ordering="line_count")
    def line_count(self, obj: SettlementAmendment) -> int:
        return getattr(obj, "line_count", 0)


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

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        # A redirect (after an action) or a page without the change list has no totals to add.
        context = response.context_data if isinstance(response, SimpleTemplateResponse) else None
        if not context or "cl" not in context:
            return response
        qs = context["cl"].queryset
        totals = qs.aggregate(net=Sum("net_amount_nzd"), alone=Sum("retailer_only_nzd"))
        net, alone = totals["net"] or 0, totals["alone"] or 0
        self.message_user(request, f"Selected rows: net {net} NZD; retailer alone {alone} NZD.")
        return response


class OpenHoldFilter(YesNoFilter):
    title = "open"
    parameter_name = "open"
    options = (("yes", "Open"), ("no", "Resolved"))
    matching = Q(resolved_at__isnull=True)


@admin.register(SettlementHold)
class SettlementHoldAdmin(admin.ModelAdmin):
    """ICPs held aside at settlement: the reason names the ICP; settled again once complete."""

    list_display = (
        "icp_number",
        "member",
        "period",
        "reason",
        "created_at",
        "checked_at",
        "is_resolved",
    )
    list_filter = (OpenHoldFilter, "period__trading_date")
    search_fields = ("icp__identifier", "member__display_name", "reason")
    list_select_related = ("icp", "member", "period")
    readonly_fields = ("period", "icp", "member", "reason", "created_at", "checked_at")
    actions = ["retry"]

    @admin.display(description="ICP", ordering="icp__identifier")
    def icp_number(self, obj: SettlementHold) -> str:
        return obj.icp.identifier

    @admin.display(boolean=True, description="resolved", ordering="resolved_at")
    def is_resolved(self, obj: SettlementHold) -> bool:
        return obj.resolved_at is not None  # a red cross while it is held

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Settle the selected ICPs now (if they are complete)")
    def retry(self, request: HttpRequest, queryset: QuerySet[SettlementHold]) -> None:
        for hold in queryset.filter(resolved_at__isnull=True).select_related("icp"):
            if settling.settlement_hold_settle(hold_id=hold.pk):
                self.message_user(request, f"{hold.icp.identifier} in {hold.period}: settled.")
            else:
                hold.refresh_from_db()
                self.message_user(request, f"Still held: {hold.reason}.", level=messages.WARNING)


@admin_alarms.register
def periods_with_errors_alarm() -> admin_alarms.Alarm | None:
    stuck = TradingPeriod.objects.exclude(last_error="").order_by("start")
    return admin_alarms.alarm(
        "Trading periods stuck with an error",
        [
            f"{p} ({p.get_state_display()}): {Truncator(p.last_error).chars(200)}"
            for p in stuck[: admin_alarms.SHOWN]
        ],
        reverse("admin:trading_tradingperiod_changelist") + "?error=yes",
        total=stuck.count(),
    )


@admin_alarms.register
def settlement_holds_alarm() -> admin_alarms.Alarm | None:
    held = (
        SettlementHold.objects.filter(resolved_at__isnull=True)
        .select_related("period")
        .order_by("period__start", "icp__identifier")
    )
    return admin_alarms.alarm(
        "ICPs held aside at settlement (the rest of their periods settled)",
        [f"{h.period}: {h.reason}" for h in held[: admin_alarms.SHOWN]],
        reverse("admin:trading_settlementhold_changelist") + "?open=yes",
        total=held.count(),
    )


@admin.register(NetworkPriceWindow)
class NetworkPriceWindowAdmin(admin.ModelAdmin):
    list_display = ("label", "days", "start_time", "end_time", "months", "price_c")


@admin.register(TimeValueParameters)
class TimeValueParametersAdmin(admin.ModelAdmin):
    """The distributor's time-value pricing parameters; each row in force from its date."""

    list_display = (
        "effective_from",
        "theta",
        "exponent",
        "kc",
        "rho",
        "ks",
        "floor_c",
        "cap_c",
        "upstream_c",
        "peak_export_rebate_c",
        "revenue_neutral",
    )
    list_filter = ("revenue_neutral",)
    date_hierarchy = "effective_from"


@admin.register(FeederPrice)
class FeederPriceAdmin(ReadOnlyAdmin):
    """Each feeder's time-value price per period, as the power flow (or the static fallback)
    made it: read-only, since the market trades on them once firm."""

    list_display = (
        "period",
        "feeder",
        "price_c",
        "export_credit_c",
        "base_c",
        "loading_pct",
        "v_min_pu",
        "v_max_pu",
        "source",
        "firm",
        "computed_at",
    )
    list_filter = ("feeder", "source", "firm")
    search_fields = ("feeder__name", "note")
    list_select_related = ("feeder", "period")
    raw_id_fields = ("feeder", "period")


@admin_alarms.register
def network_fallback_alarm() -> admin_alarms.Alarm | None:
    """Feeders priced from the static schedule for periods not yet over: the power flow could
    not price them, and the admin should know why."""
    fallback = (
        FeederPrice.objects.filter(source=FeederPrice.Source.STATIC, period__end__gt=timezone.now())
        .select_related("feeder", "period")
        .order_by("period__start", "feeder__name")
    )
    return admin_alarms.alarm(
        "Feeders on the static network price (no power flow)",
        [f"{row.feeder}, {row.period}: {row.note}" for row in fallback[: admin_alarms.SHOWN]],
        reverse("admin:trading_feederprice_changelist") + "?source__exact=static",
        total=fallback.count(),
    )


# --- the home energy manager --------------------------------------------------------------


def _latest_plan_of_icp(column: str = "pk") -> Subquery:
    """`column` of the newest plan of the row's ICP (the one in force for that home)."""
    return Subquery(
        EnergyPlan.objects.filter(icp=OuterRef("icp"))
        .order_by("-created_at", "-pk")
        .values(column)[:1]
    )


class EVHabitInline(admin.TabularInline):
    model = EVHabit
    extra = 0
    max_num = 7
    fields = ("weekday", "plug_in", "departure", "at_home")


@admin.register(EnergyManager)
class EnergyManagerAdmin(admin.ModelAdmin):
    """Each home's settings, its EV's weekday habits, and how its latest plan went."""

    list_display = (
        "icp",
        "member",
        "battery_enabled",
        "reserve_pct",
        "battery_may_export",
        "ev_enabled",
        "ev_target_pct",
        "override_by",
        "plan_status",
        "device",
    )
    list_filter = ("battery_enabled", "ev_enabled", "battery_may_export")
    search_fields = ("icp__identifier", "icp__member__display_name")
    list_select_related = ("icp__member", "icp__meter")
    raw_id_fields = ("icp",)
    inlines = [EVHabitInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EnergyManager]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                latest_status=_latest_plan_of_icp("status"),
                latest_reason=_latest_plan_of_icp("reason"),
                latest_at=_latest_plan_of_icp("created_at"),
            )
        )

    @admin.display(description="member", ordering="icp__member__display_name")
    def member(self, obj: EnergyManager) -> str:
        return str(obj.icp.member or "")

    @admin.display(description="latest plan", ordering="latest_at")
    def plan_status(self, obj: EnergyManager) -> SafeString | str:
        status = getattr(obj, "latest_status", None)
        if status is None:
            return "no plan yet"
        if status == EnergyPlan.Status.FALLBACK:
            return red("Self-consumption", getattr(obj, "latest_reason", "") or "")
        return EnergyPlan.Status(status).label

    @admin.display(description="device")
    def device(self, obj: EnergyManager) -> SafeString | str:
        """Following the plan, or why not (the meter's last refused setpoint)."""
        meter = getattr(obj.icp, "meter", None)
        if meter is None or meter.adapter == "simulated":
            return "simulated (follows the plan)" if meter else "no meter"
        if meter.dispatch_failed_at:
            return red("Not following", meter.last_dispatch_error)
        return "following"


class LatestPlanFilter(YesNoFilter):
    """The latest plan of each home is the one in force; older ones are history."""

    title = "plan"
    parameter_name = "latest"
    options = (("yes", "Latest of each home"), ("no", "Superseded"))
    matching = Q(pk=F("latest_pk"))


@admin.register(EnergyPlan)
class EnergyPlanAdmin(ReadOnlyAdmin):
    """The manager's plans with their inputs: read-only, a record of what it decided and why."""

    list_display = (
        "icp",
        "created_at",
        "status_shown",
        "reason",
        "saving",
        "ev_short_kwh",
        "is_latest",
    )
    list_filter = (LatestPlanFilter, "status")
    search_fields = ("icp__identifier", "reason")
    list_select_related = ("icp",)
    date_hierarchy = "created_at"
    fields = (
        "icp",
        "created_at",
        "first_start",
        "status",
        "reason",
        "cost_nzd",
        "baseline_cost_nzd",
        "ev_short_kwh",
        "inputs",
        "schedule",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[EnergyPlan]:
        return super().get_queryset(request).annotate(latest_pk=_latest_plan_of_icp())

    @admin.display(description="status", ordering="status")
    def status_shown(self, obj: EnergyPlan) -> SafeString | str:
        if obj.status == EnergyPlan.Status.FALLBACK:
            return red(obj.get_status_display(), obj.reason)
        return obj.get_status_display()

    @admin.display(description="saving (NZD)")
    def saving(self, obj: EnergyPlan) -> str:
        return f"{obj.saving_nzd:.2f}"

    @admin.display(boolean=True, description="latest of its home")
    def is_latest(self, obj: EnergyPlan) -> bool:
        return obj.pk == getattr(obj, "latest_pk", None)


PLAN_ALARM_WINDOW = dt.timedelta(hours=2)


@admin_alarms.register
def energy_plan_fallback_alarm() -> admin_alarms.Alarm | None:
    """Homes whose latest plan (made in the last 2 hours) fell back to self-consumption: the
    manager is not planning their battery or EV, and the reason says why."""
    fallen = (
        EnergyPlan.objects.filter(created_at__gte=timezone.now() - PLAN_ALARM_WINDOW)
        .annotate(latest_pk=_latest_plan_of_icp())
        .filter(pk=F("latest_pk"), status=EnergyPlan.Status.FALLBACK)
        .select_related("icp")
        .order_by("icp__identifier")
    )
    return admin_alarms.alarm(
        "Home energy plans that fell back to self-consumption",
        [
            f"ICP {p.icp.identifier}, plan of {timezone.localtime(p.created_at):%H:%M}: "
            f"{Truncator(p.reason or 'no reason given').chars(200)}"
            for p in fallen[: admin_alarms.SHOWN]
        ],
        reverse("admin:trading_energyplan_changelist") + "?latest=yes&status__exact=fallback",
        total=fallen.count(),
    )


# --- sharing with partners and the hardship pool ------------------------------------------


def _gifts_this_month(side: str) -> Subquery:
    """kWh the row's member gave (`side` "seller") or received ("buyer") through the hardship
    pool this NZ month, every cleared period counted."""
    return Subquery(
        Trade.objects.filter(
            **{side: OuterRef("member")},
            kind=Trade.Kind.GIFT,
            period__trading_date__gte=nz.today().replace(day=1),
        )
        .values(side)
        .annotate(kwh=Sum("energy_kwh"))
        .values("kwh")[:1]
    )


@admin.register(HardshipRecipient)
class HardshipRecipientAdmin(admin.ModelAdmin):
    """The households that receive from the hardship pool and their monthly allowance: set by
    staff only (the whole admin is staff only), through trading.services.sharing."""

    list_display = ("member", "monthly_allowance_kwh", "received_kwh", "active", "updated_at")
    list_filter = ("active",)
    search_fields = ("member__display_name", "member__user__username")
    list_select_related = ("member",)
    autocomplete_fields = ("member",)
    fields = ("member", "monthly_allowance_kwh", "active", "note")

    def get_queryset(self, request: HttpRequest) -> QuerySet[HardshipRecipient]:
        return super().get_queryset(request).annotate(received=_gifts_this_month("buyer"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Another household is another recipient: add it, rather than move this one's row.
        return ("member",) if obj is not None else ()

    @admin.display(description="received this month (kWh)", ordering="received")
    def received_kwh(self, obj: HardshipRecipient) -> str:
        return f"{getattr(obj, 'received', None) or 0:.3f}"

    def save_model(
        self, request: HttpRequest, obj: HardshipRecipient, form: Any, change: bool
    ) -> None:
        # The form has run the model's checks (an active member, an allowance over 0); the
        # service is the one writer and checks them again.
        saved = sharing.hardship_recipient_set(
            member=obj.member,
            monthly_allowance_kwh=obj.monthly_allowance_kwh,
            active=obj.active,
            note=obj.note,
        )
        obj.pk = saved.pk


@admin.register(GiftPledge)
class GiftPledgeAdmin(ReadOnlyAdmin):
    """Members' gifts to the hardship pool: written by members on their sharing page only."""

    list_display = ("member", "share_pct", "monthly_cap_kwh", "given_kwh", "active", "updated_at")
    list_filter = ("active",)
    search_fields = ("member__display_name",)
    list_select_related = ("member",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[GiftPledge]:
        return super().get_queryset(request).annotate(given=_gifts_this_month("seller"))

    @admin.display(description="given this month (kWh)", ordering="given")
    def given_kwh(self, obj: GiftPledge) -> str:
        return f"{getattr(obj, 'given', None) or 0:.3f}"


@admin.register(Partnership)
class PartnershipAdmin(ReadOnlyAdmin):
    """Who shares with whom at what price: written by the two members only."""

    list_display = ("seller", "partner", "price_c", "rank", "status", "created_at", "ended_at")
    list_filter = ("status",)
    search_fields = ("seller__display_name", "partner__display_name")
    list_select_related = ("seller", "partner")


@admin.register(PartnerCode)
class PartnerCodeAdmin(ReadOnlyAdmin):
    """Partner codes members issued (a code names no one to the seller who enters it)."""

    list_display = ("member", "code", "created_at", "expires_at", "working")
    search_fields = ("member__display_name", "code")
    list_select_related = ("member",)

    @admin.display(boolean=True, description="works now")
    def working(self, obj: PartnerCode) -> bool:
        return not obj.expired
