from django.contrib import admin
from django.http import HttpRequest

from lab.models import Run, Scenario, Sweep


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ("name", "created_by", "updated")
    search_fields = ("name",)


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    """Runs are written by the lab's workers: the admin reads them (and may delete old ones)."""

    list_display = ("name", "state", "created", "finished", "seconds")
    list_filter = ("state",)
    search_fields = ("name",)
    readonly_fields = [f.name for f in Run._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Sweep)
class SweepAdmin(admin.ModelAdmin):
    list_display = ("scenario", "setting", "values", "created")
    readonly_fields = ("scenario", "setting", "values", "created_by", "created")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
