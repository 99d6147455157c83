"""The co-op admin's daily tool: members, ICPs with their assets and tariffs, market settings."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from coop import admin_alarms, completeness, nz, services
from coop.models import (
    ICP,
    Battery,
    CoopSettings,
    ElectricVehicle,
    ICPHolding,
    Member,
    PVSystem,
    Tariff,
    TariffRate,
)
from coop.tariffs import TariffError, TariffSpec

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class ICPInline(admin.TabularInline):
    model = ICP
    fields = ("identifier", "address", "grid_exit_point", "lv_feeder")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("display_name", "user", "email", "status", "joined_on", "left_on", "icp_count")
    list_filter = ("status", "joined_on")
    search_fields = ("display_name", "user__username", "user__email", "icps__identifier")
    date_hierarchy = "joined_on"
    inlines = [ICPInline]
    autocomplete_fields = ("user",)

    @admin.display(description="ICPs")
    def icp_count(self, obj: Member) -> int:
        return obj.icps.count()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Member]:
        return super().get_queryset(request).select_related("user").prefetch_related("icps")


class PVInline(admin.TabularInline):
    model = PVSystem
    extra = 0


class BatteryInline(admin.TabularInline):
    model = Battery
    extra = 0


class EVInline(admin.TabularInline):
    model = ElectricVehicle
    extra = 0


class HoldingInline(admin.TabularInline):
    model = ICPHolding
    fields = ("member", "started_on", "ended_on")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "history of holders"

    def has_add_permission(self, request: HttpRequest, obj: ICP | None = None) -> bool:
        return False


class TariffInline(admin.TabularInline):
    model = Tariff
    fields = (
        "retailer",
        "plan_name",
        "effective_from",
        "effective_to",
        "daily_fixed_c",
        "buyback_c",
    )
    extra = 0
    show_change_link = True


class IncompleteFilter(admin.SimpleListFilter):
    """Held ICPs the market cannot settle by themselves (see coop.completeness)."""

    title = "incomplete"
    parameter_name = "incomplete"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [
            ("any", "incomplete: no meter or no tariff"),
            ("no_meter", "incomplete: no meter"),
            ("no_tariff", "incomplete: no tariff in force today"),
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[WithAnnotations[ICP, completeness.Gaps]]
    ) -> QuerySet[WithAnnotations[ICP, completeness.Gaps]]:
        held = Q(member__isnull=False)
        if self.value() == "no_meter":
            return queryset.filter(held, has_meter=False)
        if self.value() == "no_tariff":
            return queryset.filter(held, has_tariff=False)
        if self.value() == "any":
            return queryset.filter(held & (Q(has_meter=False) | Q(has_tariff=False)))
        return queryset


@admin.register(ICP)
class ICPAdmin(admin.ModelAdmin):
    list_display = (
        "identifier",
        "member",
        "incomplete",
        "address",
        "grid_exit_point",
        "lv_feeder",
        "distributor_code",
        "has_pv",
        "has_battery",
        "has_ev",
    )
    list_filter = (IncompleteFilter, "grid_exit_point", "lv_feeder")
    search_fields = ("identifier", "address", "member__display_name", "member__user__email")
    list_select_related = ("member",)
    autocomplete_fields = ("member",)
    inlines = [PVInline, BatteryInline, EVInline, TariffInline, HoldingInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ICP]:
        icps = super().get_queryset(request).prefetch_related("pv_systems", "batteries", "evs")
        return completeness.with_gaps(icps)

    @admin.display(description="incomplete")
    def incomplete(self, obj: ICP) -> SafeString | None:
        """What a held ICP lacks to settle on its own, in red; nothing when complete."""
        gaps = completeness.gaps_of(obj) if obj.member_id else []
        if not gaps:
            return None
        return format_html(
            '<strong class="icp-incomplete" style="color:#ba2121">&#10006; {}</strong>',
            ", ".join(gaps),
        )

    @admin.display(boolean=True, description="PV")
    def has_pv(self, obj: ICP) -> bool:
        return bool(obj.pv_systems.all())

    @admin.display(boolean=True, description="Battery")
    def has_battery(self, obj: ICP) -> bool:
        return bool(obj.batteries.all())

    @admin.display(boolean=True, description="EV")
    def has_ev(self, obj: ICP) -> bool:
        return bool(obj.evs.all())

    def save_model(self, request: HttpRequest, obj: ICP, form: Any, change: bool) -> None:
        # The holder goes through the service so that the history of holders stays whole.
        new_member = obj.member
        if change:
            obj.member = ICP.objects.get(pk=obj.pk).member
        else:
            obj.member = None
        super().save_model(request, obj, form, change)
        services.icp_assign_member(icp=obj, member=new_member, on=nz.today())

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # After the inlines (tariffs) are saved: is the ICP now complete for the market?
        super().save_related(request, form, formsets, change)
        icp = form.instance
        if icp.member_id and (gaps := completeness.gaps_of(icp)):
            self.message_user(
                request,
                f"{completeness.describe(icp, gaps)}. Until that is put right, this ICP's "
                "settlement is held aside each period (the rest of the co-op settles as usual) "
                "and it is listed under Alarms on the admin home page.",
                level=messages.WARNING,
            )


@admin_alarms.register
def incomplete_icps_alarm() -> admin_alarms.Alarm | None:
    return admin_alarms.alarm(
        "ICPs held by a member with no meter or no tariff in force",
        [completeness.describe(icp, gaps) for icp, gaps in completeness.incomplete_icps()],
        reverse("admin:coop_icp_changelist") + "?incomplete=any",
    )


class TariffRateFormSet(BaseInlineFormSet):
    """Checks the windows together: every half hour priced once, no overlaps, no gaps."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        rates = [
            form.instance
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        imports = tuple(r.window() for r in rates if r.kind == TariffRate.Kind.IMPORT)
        lines = tuple(r.window() for r in rates if r.kind == TariffRate.Kind.LINES)
        try:
            TariffSpec(
                daily_fixed_c=self.instance.daily_fixed_c or Decimal(0),
                buyback_c=self.instance.buyback_c or Decimal(0),
                import_windows=imports,
                lines_windows=lines,
            ).validate()
        except TariffError as exc:
            raise ValidationError(str(exc)) from exc


class TariffRateInline(admin.TabularInline):
    model = TariffRate
    formset = TariffRateFormSet
    extra = 0


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    list_display = (
        "icp",
        "retailer",
        "plan_name",
        "effective_from",
        "effective_to",
        "daily_fixed_c",
        "buyback_c",
        "prices_include_gst",
    )
    list_filter = ("retailer", "prices_include_gst")
    search_fields = ("icp__identifier", "retailer", "plan_name", "icp__member__display_name")
    autocomplete_fields = ("icp",)
    list_select_related = ("icp",)
    inlines = [TariffRateInline]


@admin.register(ICPHolding)
class ICPHoldingAdmin(admin.ModelAdmin):
    list_display = ("icp", "member", "started_on", "ended_on")
    search_fields = ("icp__identifier", "member__display_name")
    list_select_related = ("icp", "member")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ICPHolding | None = None) -> bool:
        return False


@admin.register(CoopSettings)
class CoopSettingsAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "mechanism",
        "gate_closure_minutes",
        "price_floor_c",
        "price_cap_c",
        "coop_fee_c",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not CoopSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: CoopSettings | None = None) -> bool:
        return False
