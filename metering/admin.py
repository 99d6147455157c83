"""Meter health and data quality for the co-op admin, and EIEP upload and export."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, TypedDict

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from coop import nz
from coop.models import ICP
from metering.formats import eiep3
from metering.formats.eiep3 import EIEPError
from metering.forms import meter_form
from metering.models import Meter, MeterEvent, Reading, ReadingRevision
from metering.selectors import eiep3_export, quality_by_period
from metering.services.eiep_import import file_import
from metering.services.polling import last_complete_period_end, meters_poll

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class DayReadings(TypedDict):
    """MeterAdmin's annotation: the meter's half hours with a reading in the last day."""

    day_readings: int


class UploadForm(forms.Form):
    file = forms.FileField(help_text="EIEP3 (v10 or v11) or EIEP13A; refused whole on any error.")


class ExportForm(forms.Form):
    icps = forms.ModelMultipleChoiceField(queryset=ICP.objects.all())
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    recipient = forms.CharField(max_length=4, initial="RCPT")


# Written by polling and dispatch, never typed in: shown read-only below the settings.
METER_STATE = (
    "status",
    "last_sample_at",
    "consecutive_misses",
    "next_poll_at",
    "last_error",
    "import_register_kwh",
    "export_register_kwh",
    "dispatch_failed_at",
    "last_dispatch_error",
)


def problem(text: str, shown: int = 60) -> SafeString:
    """An error in red with the admin's red cross (the full text on hover)."""
    return format_html(
        '<span class="hapori-error" style="color:#ba2121;font-weight:bold" title="{}">'
        '<img src="{}" alt="error" style="vertical-align:middle"> {}</span>',
        text,
        static("admin/img/icon-no.svg"),
        Truncator(text).chars(shown),
    )


@admin.register(Meter)
class MeterAdmin(admin.ModelAdmin):
    # Few, dense columns: the list fits a 1366 px screen.
    list_display = ("icp", "adapter", "status_shown", "last_sample_at", "gaps_last_day", "error")
    list_filter = ("status", "adapter")
    readonly_fields = METER_STATE
    search_fields = ("icp__identifier", "icp__member__display_name")
    list_select_related = ("icp",)
    actions = ["repoll"]
    change_list_template = "admin/metering/meter/change_list.html"

    def _kind(self, request: HttpRequest, obj: Meter | None) -> str | None:
        if request.method == "POST":
            return request.POST.get("adapter")
        return obj.adapter if obj else request.GET.get("adapter")

    def get_fieldsets(self, request: HttpRequest, obj: Meter | None = None) -> Any:
        form = meter_form(self._kind(request, obj))
        label = Meter.Adapter(form.adapter_kind).label if form.adapter_kind else ""
        fieldsets: list[tuple[str | None, dict[str, Any]]] = [(None, {"fields": form.Meta.fields})]
        if form.setting_fields:
            fieldsets.append((f"{label} settings", {"fields": form.setting_fields}))
        if obj is not None:
            fieldsets.append(("State (written by polling and dispatch)", {"fields": METER_STATE}))
        return fieldsets

    def get_form(
        self, request: HttpRequest, obj: Meter | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        kwargs["form"] = meter_form(self._kind(request, obj))
        return super().get_form(request, obj, change, **kwargs)

    @admin.display(description="status", ordering="status")
    def status_shown(self, obj: Meter) -> str:
        misses = obj.consecutive_misses
        shown = obj.get_status_display()
        return f"{shown} ({misses} missed)" if misses else shown

    @admin.display(description="last error", ordering="last_error")
    def error(self, obj: Meter) -> SafeString | None:
        """The poll's last error, else the last setpoint that did not reach the device."""
        if obj.last_error:
            return problem(obj.last_error)
        if obj.dispatch_failed_at and obj.last_dispatch_error:
            return problem(f"setpoint: {obj.last_dispatch_error}")
        return None

    def get_queryset(self, request: HttpRequest) -> QuerySet[WithAnnotations[Meter, DayReadings]]:
        # The 48 half hours that have ended (a day of elapsed time, whatever daylight saving
        # does to the local clock); the one in progress cannot have a reading yet.
        end = last_complete_period_end(timezone.now())
        window = Q(
            icp__readings__interval_start__gte=end - dt.timedelta(days=1),
            icp__readings__interval_start__lt=end,
        ) & ~Q(icp__readings__quality=Reading.Quality.UPLOADED)  # a resident's file is not ours
        return super().get_queryset(request).annotate(day_readings=Count("icp__readings", window))

    @admin.display(description="missing (24 h)")
    def gaps_last_day(self, obj: WithAnnotations[Meter, DayReadings]) -> int:
        return max(0, 48 - obj.day_readings)

    @admin.action(description="Poll the selected meters now")
    def repoll(self, request: HttpRequest, queryset: QuerySet[Meter]) -> None:
        report = meters_poll(meter_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            f"Polled {report['polled']}, {report['readings']} readings, {report['failed']} failed.",
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="metering_upload"),
            path("export/", self.admin_site.admin_view(self.export_view), name="metering_export"),
            *super().get_urls(),
        ]

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        form = UploadForm(request.POST or None, request.FILES or None)
        errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            try:
                result = file_import(
                    text=form.cleaned_data["file"].read().decode("utf-8-sig"),
                    source=f"admin:{request.user.username}",
                )
            except UnicodeDecodeError:
                errors = ["the file is not UTF-8 text"]
            except EIEPError as exc:
                errors = exc.errors
            else:
                messages.success(
                    request,
                    f"Imported {result.readings} half hours for {result.icps} ICPs "
                    f"({len(result.warnings)} warnings).",
                )
                for warning in result.warnings[:20]:
                    messages.warning(request, warning)
                return redirect("admin:metering_meter_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "errors": errors,
            "title": "Upload EIEP metering files",
        }
        return render(request, "admin/metering/upload.html", context)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        form = ExportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            text = eiep3_export(
                icps=data["icps"], start=data["start"], end=data["end"], recipient=data["recipient"]
            )
            name = eiep3.file_name(
                "HAPO", data["recipient"], f"{data['start']:%Y%m}", nz.today(), "1"
            )
            response = HttpResponse(text, content_type="text/plain")
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            return response
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "errors": [],
            "title": "Export EIEP3",
        }
        return render(request, "admin/metering/upload.html", context)


@admin.register(Reading)
class ReadingAdmin(admin.ModelAdmin):
    """Data quality: filter by quality and source; the list shows each ICP's half hours."""

    list_display = (
        "icp",
        "interval_start",
        "import_kwh",
        "export_kwh",
        "quality",
        "source",
        "received_at",
    )
    list_filter = ("quality", "source")
    search_fields = ("icp__identifier",)
    date_hierarchy = "interval_start"
    list_select_related = ("icp",)
    raw_id_fields = ("icp",)

    change_list_template = "admin/metering/reading/change_list.html"

    # Written only by the system (polling, EIEP imports, estimates), with revisions kept:
    # a correction is a file or a meter sample, never a value typed in here.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Reading | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.quality_view)
        return [path("quality/", view, name="metering_quality"), *super().get_urls()]

    def quality_view(self, request: HttpRequest) -> HttpResponse:
        """Per trading period: held ICPs against actual, estimated and missing readings."""
        context = {
            **self.admin_site.each_context(request),
            "title": "Data quality by trading period (last 24 hours)",
            "rows": quality_by_period(timezone.now()),
            "opts": self.model._meta,
        }
        return render(request, "admin/metering/reading/quality.html", context)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        since = timezone.now() - dt.timedelta(days=1)
        quality = Reading.objects.filter(interval_start__gte=since).aggregate(
            actual=Count("id", filter=Q(quality="actual")),
            estimated=Count("id", filter=~Q(quality__in=["actual", "uploaded"])),
            uploaded=Count("id", filter=Q(quality="uploaded")),
        )
        self.message_user(
            request,
            f"Last 24 h: {quality['actual']} actual and "
            f"{quality['estimated']} estimated half hours"
            + (f", {quality['uploaded']} uploaded by residents." if quality["uploaded"] else "."),
        )
        return super().changelist_view(request, extra_context)


@admin.register(ReadingRevision)
class ReadingRevisionAdmin(admin.ModelAdmin):
    list_display = (
        "reading",
        "import_kwh",
        "export_kwh",
        "quality",
        "source",
        "replaced_by_source",
        "replaced_at",
    )
    raw_id_fields = ("reading",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # written when a reading is corrected

    def has_change_permission(
        self, request: HttpRequest, obj: ReadingRevision | None = None
    ) -> bool:
        return False


@admin.register(MeterEvent)
class MeterEventAdmin(admin.ModelAdmin):
    list_display = ("at", "kind", "meter", "member", "message")
    list_filter = ("kind",)
    search_fields = ("message", "meter__icp__identifier")
