"""The home energy manager's records: what a resident allows it to do with each ICP's battery
and EV, and the plans it made (with their inputs, so a resident can see why).

Imported by trading.models, where Django looks for the app's models.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from coop import nz
from coop.models import ICP

PERCENT = [MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))]
WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class EnergyManager(models.Model):
    """One ICP's settings: off until the resident opts in; safe defaults (a 20% reserve kept
    for outages, no battery export until the resident allows it)."""

    icp = models.OneToOneField(ICP, on_delete=models.CASCADE, related_name="energy_manager")
    battery_enabled = models.BooleanField("manage my battery", default=False)
    reserve_pct = models.DecimalField(
        "battery reserve (%)",
        max_digits=5,
        decimal_places=1,
        default=Decimal(20),
        validators=PERCENT,
        help_text="Kept for outages: the plan never uses it.",
    )
    battery_may_export = models.BooleanField(
        "the battery may sell to neighbours",
        default=False,
        help_text="Off: the battery only covers your own home.",
    )
    ev_enabled = models.BooleanField("manage my EV charging", default=False)
    ev_target_pct = models.DecimalField(
        "EV charge by departure (%)",
        max_digits=5,
        decimal_places=1,
        default=Decimal(80),
        validators=PERCENT,
    )
    ev_arrival_pct = models.DecimalField(
        "EV charge when plugged in (%)",
        max_digits=5,
        decimal_places=1,
        default=Decimal(50),
        validators=PERCENT,
        help_text="What it usually has left when you get home.",
    )
    # "I'm plugged in now, need X% by HH:MM": one override at a time, until its deadline.
    override_need_pct = models.DecimalField(
        max_digits=5, decimal_places=1, null=True, blank=True, validators=PERCENT
    )
    override_now_pct = models.DecimalField(
        max_digits=5, decimal_places=1, null=True, blank=True, validators=PERCENT
    )
    override_by = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "energy manager"

    def __str__(self) -> str:
        return f"Energy manager of {self.icp}"

    def clean(self) -> None:
        if (
            self.ev_enabled
            and self.ev_target_pct is not None
            and self.reserve_pct is not None
            and self.ev_target_pct < self.reserve_pct
        ):
            raise ValidationError(
                {"ev_target_pct": "The EV target is below the reserve you keep: raise it."}
            )
        if self.override_need_pct is not None and self.override_by is None:
            raise ValidationError({"override_by": "Say by when you need it."})
        if (
            self.override_need_pct is not None
            and self.override_now_pct is not None
            and self.override_need_pct < self.override_now_pct
        ):
            raise ValidationError(
                {"override_need_pct": "The charge you need is below what it has now."}
            )

    def saved_by_holder(self) -> bool:
        """Were these settings saved by the ICP's present holder? A new holder starts with the
        manager off, whatever the last one allowed (battery export above all)."""
        holding = self.icp.holdings.filter(ended_on__isnull=True).first()
        return holding is None or self.updated_at >= nz.trading_day_start(holding.started_on)

    def override_active(self, now: dt.datetime) -> bool:
        return self.override_need_pct is not None and (
            self.override_by is not None and self.override_by > now
        )


class EVHabit(models.Model):
    """When the EV is usually plugged in and when it leaves, per weekday (the day it is
    plugged in; a departure at or before the plug-in time is the next morning)."""

    manager = models.ForeignKey(EnergyManager, on_delete=models.CASCADE, related_name="habits")
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    plug_in = models.TimeField()
    departure = models.TimeField()
    at_home = models.BooleanField(default=True, help_text="Off: it is not plugged in that day.")

    class Meta:
        ordering = ["manager", "weekday"]
        constraints = [
            models.UniqueConstraint(fields=["manager", "weekday"], name="one_habit_per_weekday")
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.plug_in:%H:%M}-{self.departure:%H:%M}"

    def clean(self) -> None:
        if self.plug_in is not None and self.plug_in == self.departure:
            raise ValidationError({"departure": "The departure must differ from the plug-in time."})


class EnergyPlan(models.Model):
    """One solve for one ICP: the schedule for the coming trading periods, what it expected to
    pay, and everything it was given (so the resident's page can say why)."""

    class Status(models.TextChoices):
        OPTIMAL = "optimal", "Planned"
        FALLBACK = "fallback", "Self-consumption (the plan failed)"

    icp = models.ForeignKey(ICP, on_delete=models.CASCADE, related_name="energy_plans")
    created_at = models.DateTimeField(db_index=True)
    first_start = models.DateTimeField(help_text="The first trading period planned (UTC).")
    status = models.CharField(max_length=10, choices=Status.choices)
    reason = models.CharField(max_length=300, blank=True)
    cost_nzd = models.DecimalField(max_digits=10, decimal_places=4)
    baseline_cost_nzd = models.DecimalField(
        "self-consumption cost (NZD)", max_digits=10, decimal_places=4
    )
    ev_short_kwh = models.DecimalField(max_digits=8, decimal_places=3, default=Decimal(0))
    # Per period, as lists: starts (ISO UTC), load, pv, buy_c, sell_c, charge, discharge, ev,
    # grid_import, grid_export, soc (one more), offer_floor_c, bid_cap_c; and the scalars.
    inputs = models.JSONField()
    schedule = models.JSONField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["icp", "-created_at"], name="plan_latest_per_icp")]

    def __str__(self) -> str:
        return f"Plan for {self.icp} at {self.created_at:%Y-%m-%d %H:%M}Z"

    @property
    def saving_nzd(self) -> Decimal:
        return self.baseline_cost_nzd - self.cost_nzd
