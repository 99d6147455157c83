"""The co-op admin's daily tool: members, ICPs with their assets and tariffs, market settings,
the LV network (transformers, feeders, their segments) and a map of it."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.db.models.fields.related import ForeignKey
from django.forms import ModelChoiceField
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from coop import admin_alarms, completeness, nz, services
from coop.models import (
    ICP,
    Battery,
    CoopSettings,
    ElectricVehicle,
    Feeder,
    ICPHolding,
    LineSegment,
    Member,
    PVSystem,
    Tariff,
    TariffRate,
    Transformer,
    validate_icp,
)
from coop.tariffs import TariffError, TariffSpec

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class ICPField(forms.CharField):
    """An ICP number as typed: spaces trimmed and upper-cased (0000638109tre20 is accepted
    as 0000638109TRE20), then checked like any other (coop.models.validate_icp)."""

    def to_python(self, value: Any) -> str:
        return str(super().to_python(value)).replace(" ", "").upper()


ICP_HELP = ICP._meta.get_field("identifier").help_text


class ICPForm(forms.ModelForm):
    identifier = ICPField(label="ICP", max_length=15, validators=[validate_icp], help_text=ICP_HELP)

    class Meta:
        model = ICP
        fields = (
            "identifier",
            "member",
            "address",
            "grid_exit_point",
            "feeder",
            "connection_segment",
            "service_length_m",
            "service_cable_type",
            "latitude",
            "longitude",
            "max_import_kw",
        )


class ICPInline(admin.TabularInline):
    """The member's ICPs, as they are (each changed on its own page)."""

    model = ICP
    fields = ("identifier", "address", "grid_exit_point", "feeder")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Member | None = None) -> bool:
        return False  # NewICPInline adds them


class NewICPFormSet(BaseInlineFormSet):
    """New ICPs go through coop.services.icp_create, which starts the member's holding."""

    def save_new(self, form: forms.ModelForm, commit: bool = True) -> ICP:
        fields = {
            name: form.cleaned_data[name]
            for name in NewICPInline.fields
            if name in form.cleaned_data
        }
        return services.icp_create(member=self.instance, on=nz.today(), **fields)


class NewICPInline(admin.TabularInline):
    """Add ICPs from the member page: each is held by the member from today."""

    model = ICP
    form = ICPForm
    formset = NewICPFormSet
    fields = ("identifier", "address", "grid_exit_point", "feeder", "latitude", "longitude")
    extra = 0
    can_delete = False
    verbose_name = "new ICP"
    verbose_name_plural = "add ICPs (held by this member from today)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ICP]:
        return super().get_queryset(request).none()  # only new rows; ICPInline lists the rest

    def has_change_permission(self, request: HttpRequest, obj: Member | None = None) -> bool:
        return False


class MemberAddForm(forms.ModelForm):
    """A new member and their login together (coop.services.member_create)."""

    username = forms.CharField(max_length=150, help_text="What they log in with.")
    email = forms.EmailField()
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        strip=False,
        help_text="Their first password; they can change it after logging in.",
    )

    class Meta:
        model = Member
        fields = ("display_name", "phone", "status", "joined_on")

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        user_model = get_user_model()
        if user_model._default_manager.filter(username__iexact=username).exists():
            raise ValidationError("A login with this username already exists.")
        return username

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        username, password = data.get("username"), data.get("password")
        if username and password:
            user = get_user_model()(username=username, email=data.get("email", ""))
            try:
                password_validation.validate_password(password, user)
            except ValidationError as exc:
                self.add_error("password", exc)
        return data


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("display_name", "user", "email", "status", "joined_on", "left_on", "icp_count")
    list_filter = ("status", "joined_on")
    search_fields = ("display_name", "user__username", "user__email", "icps__identifier")
    date_hierarchy = "joined_on"
    inlines = [ICPInline, NewICPInline]
    autocomplete_fields = ("user",)
    add_form = MemberAddForm
    add_fieldsets = (
        ("Login", {"fields": ("username", "email", "password")}),
        ("Member", {"fields": ("display_name", "phone", "status", "joined_on")}),
    )

    @admin.display(description="ICPs")
    def icp_count(self, obj: Member) -> int:
        return obj.icps.count()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Member]:
        return super().get_queryset(request).select_related("user").prefetch_related("icps")

    def get_fieldsets(self, request: HttpRequest, obj: Member | None = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        return super().get_fieldsets(request, obj)

    def get_form(
        self, request: HttpRequest, obj: Member | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request: HttpRequest, obj: Member, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The login and the member together, all or nothing (coop.services.member_create).
        data = form.cleaned_data
        member = services.member_create(
            username=data["username"],
            email=data["email"],
            password=data["password"],
            display_name=data["display_name"],
            status=data["status"],
            joined_on=data.get("joined_on"),
            phone=data.get("phone", ""),
        )
        # The admin goes on with `obj` (the inlines, the log): make it the member just saved.
        obj.pk, obj.user = member.pk, member.user
        obj._state.adding, obj._state.db = False, member._state.db


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
    # Few, dense columns: the list fits a 1366 px screen (distributor is in the ICP number).
    list_display = ("identifier", "member", "incomplete", "address", "connection", "assets")
    form = ICPForm
    list_filter = (IncompleteFilter, "grid_exit_point", "feeder")
    search_fields = ("identifier", "address", "member__display_name", "member__user__email")
    list_select_related = ("member", "feeder")
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

    @admin.display(description="GXP / feeder", ordering="grid_exit_point")
    def connection(self, obj: ICP) -> str:
        return f"{obj.grid_exit_point} / {obj.feeder}" if obj.feeder_id else obj.grid_exit_point

    @admin.display(description="PV / battery / EV")
    def assets(self, obj: ICP) -> str:
        """One short cell: "PV 5.0 kWp, battery 13.5 kWh, EV"; a dash when it has none."""
        pv = sum((p.capacity_kwp for p in obj.pv_systems.all()), Decimal(0))
        battery = sum((b.capacity_kwh for b in obj.batteries.all()), Decimal(0))
        parts = [
            f"PV {pv} kWp" if pv else "",
            f"battery {battery} kWh" if battery else "",
            "EV" if obj.evs.all() else "",
        ]
        return ", ".join(p for p in parts if p) or "-"

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


# --- the LV network: transformers, feeders, their segments, and a map of them --------------

Point = tuple[float, float]  # (latitude, longitude)


def _point(obj: Transformer | ICP) -> Point:
    return (float(obj.latitude), float(obj.longitude))


def segment_far_ends(
    segments: list[LineSegment], connected: dict[int, list[Point]]
) -> dict[int, Point | None]:
    """Where each segment ends on the map: a pole has no coordinates of its own, so the mean
    position of the ICPs connected at it (`connected`), else its upstream end (the segment
    upstream's far end, or the transformer). None where neither is known."""
    by_id = {s.pk: s for s in segments}
    far: dict[int, Point | None] = {}
    for segment in segments:
        # Walk upstream to the first point known; every segment passed on the way has no
        # ICPs, so it ends where that point is. A loop (clean() refuses one) has no position.
        chain: list[int] = []
        node: LineSegment | None = segment
        start: Point | None = None
        while node is not None:
            if node.pk in far:
                start = far[node.pk]
                break
            if points := connected.get(node.pk):
                start = far[node.pk] = (
                    sum(p[0] for p in points) / len(points),
                    sum(p[1] for p in points) / len(points),
                )
                break
            if node.pk in chain:
                break
            chain.append(node.pk)
            if node.upstream_id is None:
                transformer = node.feeder.transformer
                start = _point(transformer) if transformer else None
                break
            node = by_id.get(node.upstream_id)
        for pk in chain:
            far[pk] = start
    return far


def _assets(icp: ICP) -> str:
    pv = sum((p.capacity_kwp for p in icp.pv_systems.all()), Decimal(0))
    battery = sum((b.capacity_kwh for b in icp.batteries.all()), Decimal(0))
    parts = [f"PV {pv} kWp" if pv else "no PV", f"battery {battery} kWh" if battery else ""]
    parts.append("EV" if icp.evs.all() else "")
    return " · ".join(p for p in parts if p)


def network_map_data() -> dict[str, list[dict[str, Any]]]:
    """Everything the network map draws, as plain JSON: transformers, ICPs by feeder and the
    LV main's segments as lines from their upstream end to their far end."""
    transformers = Transformer.objects.order_by("name")
    feeders = Feeder.objects.select_related("transformer").order_by("name")
    icps = list(
        ICP.objects.select_related("feeder")
        .prefetch_related("pv_systems", "batteries", "evs")
        .order_by("identifier")
    )
    segments = list(
        LineSegment.objects.select_related("feeder__transformer").order_by("feeder", "pk")
    )
    connected: dict[int, list[Point]] = defaultdict(list)
    for icp in icps:
        if icp.connection_segment_id is not None:
            connected[icp.connection_segment_id].append(_point(icp))
    far = segment_far_ends(segments, connected)
    lines = []
    for segment in segments:
        if segment.upstream_id is None:
            transformer = segment.feeder.transformer
            start = _point(transformer) if transformer else None
        else:
            start = far.get(segment.upstream_id)
        end = far.get(segment.pk)
        if start is None or end is None:
            continue
        lines.append(
            {
                "feeder": segment.feeder_id,
                "name": segment.name,
                "cable_type": segment.cable_type,
                "length_m": str(segment.length_m),
                "from": list(start),
                "to": list(end),
            }
        )
    return {
        "transformers": [
            {
                "name": t.name,
                "rating_kva": str(t.rating_kva),
                "lat": float(t.latitude),
                "lon": float(t.longitude),
            }
            for t in transformers
        ],
        "feeders": [
            {"id": f.pk, "name": f.name, "transformer": f.transformer.name if f.transformer else ""}
            for f in feeders
        ],
        "icps": [
            {
                "identifier": icp.identifier,
                "address": icp.address,
                "feeder": icp.feeder_id,
                "lat": float(icp.latitude),
                "lon": float(icp.longitude),
                "assets": _assets(icp),
            }
            for icp in icps
        ],
        "segments": lines,
    }


@admin.register(Transformer)
class TransformerAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "rating_kva",
        "grid_exit_point",
        "hv_kv",
        "lv_kv",
        "impedance_percent",
        "feeder_count",
        "latitude",
        "longitude",
    )
    list_filter = ("grid_exit_point",)
    search_fields = ("name", "grid_exit_point", "feeders__name")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Transformer]:
        return super().get_queryset(request).annotate(feeder_count=Count("feeders"))

    @admin.display(description="feeders", ordering="feeder_count")
    def feeder_count(self, obj: Transformer) -> int:
        return getattr(obj, "feeder_count", 0)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.network_map_view)
        return [path("map/", view, name="coop_transformer_map"), *super().get_urls()]

    def network_map_view(self, request: HttpRequest) -> HttpResponse:
        """The LV network drawn on plain longitude/latitude axes (no map tiles)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "LV network map",
            "opts": self.model._meta,
            "network_map": network_map_data(),
        }
        return TemplateResponse(request, "admin/coop/network_map.html", context)


class LineSegmentInline(admin.TabularInline):
    model = LineSegment
    fk_name = "feeder"
    fields = ("name", "upstream", "length_m", "cable_type")
    extra = 0
    show_change_link = True

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        # A segment continues one of its own feeder's segments (clean() says so too).
        if db_field.name == "upstream":
            match = request.resolver_match
            object_id = str(match.kwargs.get("object_id", "")) if match else ""
            segments = LineSegment.objects.select_related("feeder")
            kwargs["queryset"] = (
                segments.filter(feeder_id=int(object_id))
                if object_id.isdigit()
                else segments.none()  # a new feeder has no segments yet
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Feeder)
class FeederAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "transformer",
        "other_customers",
        "other_pv_kwp",
        "icp_count",
        "segment_count",
    )
    list_filter = ("transformer",)
    search_fields = ("name", "transformer__name")
    list_select_related = ("transformer",)
    autocomplete_fields = ("transformer",)
    inlines = [LineSegmentInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Feeder]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                icp_count=Count("icps", distinct=True),
                segment_count=Count("segments", distinct=True),
            )
        )

    @admin.display(description="ICPs", ordering="icp_count")
    def icp_count(self, obj: Feeder) -> int:
        return getattr(obj, "icp_count", 0)

    @admin.display(description="segments", ordering="segment_count")
    def segment_count(self, obj: Feeder) -> int:
        return getattr(obj, "segment_count", 0)


@admin.register(LineSegment)
class LineSegmentAdmin(admin.ModelAdmin):
    list_display = ("name", "feeder", "upstream", "length_m", "cable_type", "icp_count")
    list_filter = ("feeder", "cable_type")
    search_fields = ("name", "feeder__name")
    list_select_related = ("feeder", "upstream", "upstream__feeder")
    autocomplete_fields = ("feeder",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[LineSegment]:
        return super().get_queryset(request).annotate(icp_count=Count("icps"))

    @admin.display(description="ICPs", ordering="icp_count")
    def icp_count(self, obj: LineSegment) -> int:
        return getattr(obj, "icp_count", 0)
