"""Meters and their half-hourly readings: what the market settles on."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypedDict

from django.core.validators import MinValueValidator
from django.db import models

from coop.models import ICP, Member


class _Energy(TypedDict):
    max_digits: int
    decimal_places: int
    validators: list[Callable[[Any], None]]


KWH: _Energy = {
    "max_digits": 12,
    "decimal_places": 3,
    "validators": [MinValueValidator(Decimal(0))],
}


class Meter(models.Model):
    class Adapter(models.TextChoices):
        SIMULATED = "simulated", "Simulated household"
        MODBUS = "modbus", "Modbus TCP (SunSpec)"
        MQTT = "mqtt", "MQTT (Shelly / Tasmota JSON)"
        HTTP = "http", "HTTP JSON"
        FILE = "file", "EIEP files only"

    class Status(models.TextChoices):
        ONLINE = "online", "Online"
        OFFLINE = "offline", "Offline"
        NEW = "new", "Not polled yet"

    icp = models.OneToOneField(ICP, on_delete=models.CASCADE, related_name="meter")
    adapter = models.CharField(max_length=10, choices=Adapter.choices, default=Adapter.SIMULATED)
    settings = models.JSONField(
        default=dict, blank=True, help_text="Adapter settings (host, topic, URL, field map...)."
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.NEW)
    last_sample_at = models.DateTimeField(null=True, blank=True)
    consecutive_misses = models.PositiveIntegerField(default=0)
    next_poll_at = models.DateTimeField(
        null=True, blank=True, help_text="After misses, the meter is left alone until then."
    )
    last_error = models.TextField(blank=True)
    import_register_kwh = models.DecimalField(
        null=True, blank=True, max_digits=14, decimal_places=3
    )
    export_register_kwh = models.DecimalField(
        null=True, blank=True, max_digits=14, decimal_places=3
    )
    command_topic = models.CharField(
        max_length=200,
        blank=True,
        help_text="MQTT topic the home's battery controller listens on for setpoints.",
    )
    last_dispatch_error = models.TextField(
        blank=True, help_text="Why the last setpoint did not reach the device."
    )
    dispatch_failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["icp"]

    def __str__(self) -> str:
        return f"Meter on {self.icp} ({self.get_adapter_display()})"


class Reading(models.Model):
    """Energy through one ICP in one half-hour trading period.

    On PostgreSQL the table is partitioned by NZ month of `interval_start`
    (metering.services.partitions); its primary key there is (id, interval_start), which
    PostgreSQL requires of a partitioned table. `id` alone stays unique: it comes from one
    sequence."""

    class Quality(models.TextChoices):
        ACTUAL = "actual", "Actual"
        ESTIMATED = "estimated", "Estimated"
        SUBSTITUTED = "substituted", "Substituted"
        # A resident's own file: shown to them, never settled on (see metering.selectors).
        UPLOADED = "uploaded", "Resident upload"

    # No database constraint or index of its own: see metering.services.bulk. Writers lock
    # the ICP (services.readings.icps_lock) and PROTECT stops its deletion; (icp,
    # interval_start) is indexed.
    icp = models.ForeignKey(
        ICP,
        on_delete=models.PROTECT,
        related_name="readings",
        db_constraint=False,
        db_index=False,
    )
    interval_start = models.DateTimeField(help_text="UTC start of the trading period.")
    import_kwh = models.DecimalField(**KWH)
    export_kwh = models.DecimalField(**KWH)
    quality = models.CharField(max_length=11, choices=Quality.choices, default=Quality.ACTUAL)
    source = models.CharField(max_length=40)
    received_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["icp", "interval_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["icp", "interval_start"], name="one_reading_per_icp_interval"
            )
        ]
        indexes = [models.Index(fields=["interval_start"])]

    def __str__(self) -> str:
        when = f"{self.interval_start:%Y-%m-%d %H:%M}Z"
        return f"{self.icp} {when} +{self.import_kwh}/-{self.export_kwh}"


class ReadingRevision(models.Model):
    """A value a reading held before a correction replaced it."""

    # No database constraint: PostgreSQL cannot reference `id` of a partitioned table (no unique
    # index on it alone). Revisions are written only for readings the same statement reads
    # (metering.services), and the ORM's CASCADE deletes them with their reading.
    reading = models.ForeignKey(
        Reading, on_delete=models.CASCADE, related_name="revisions", db_constraint=False
    )
    import_kwh = models.DecimalField(**KWH)
    export_kwh = models.DecimalField(**KWH)
    quality = models.CharField(max_length=11)
    source = models.CharField(max_length=40)
    replaced_at = models.DateTimeField(auto_now_add=True)
    replaced_by_source = models.CharField(max_length=40)

    class Meta:
        ordering = ["reading", "replaced_at"]

    def __str__(self) -> str:
        return f"{self.reading} was +{self.import_kwh}/-{self.export_kwh}"


class MeterEvent(models.Model):
    """Something a person should see in meter health: refused data, misses, offline."""

    class Kind(models.TextChoices):
        REFUSED = "refused", "Data refused"
        MISSED = "missed", "Poll missed"
        OFFLINE = "offline", "Marked offline"
        ONLINE = "online", "Back online"
        IMPORT = "import", "File imported"

    meter = models.ForeignKey(
        Meter, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    member = models.ForeignKey(
        Member,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="meter_events",
        help_text="Whose upload it was, for a resident's file.",
    )
    message = models.TextField()
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message[:60]}"


class RegisterSample(models.Model):
    """A polled meter's cumulative registers at an instant (the device's own time where it
    gives one). Kept for a couple of days, so that a sample that arrives late or out of order
    can still be placed between its neighbours and the half hours around it recomputed."""

    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="samples")
    at = models.DateTimeField()
    import_kwh = models.DecimalField(max_digits=14, decimal_places=6)
    export_kwh = models.DecimalField(max_digits=14, decimal_places=6)
    restart = models.BooleanField(
        default=False,
        help_text="Counting starts again here (first sample, or after a refused jump): no "
        "energy is taken from the span before it.",
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["meter", "at"]
        constraints = [
            models.UniqueConstraint(fields=["meter", "at"], name="one_sample_per_instant")
        ]

    def __str__(self) -> str:
        return f"{self.meter} at {self.at:%Y-%m-%d %H:%M:%S}Z"


# Signed kWh to the watt-hour: a battery's energy at its AC terminals in a half hour.
SIGNED_KWH: _Energy = {"max_digits": 9, "decimal_places": 3, "validators": []}


class Dispatch(models.Model):
    """The plan for one ICP's battery and EV in one half hour (metering.services.dispatch).
    Each re-plan rewrites the half hours not yet started; a started one is never changed."""

    icp = models.ForeignKey(ICP, on_delete=models.CASCADE, related_name="dispatches")
    interval_start = models.DateTimeField(help_text="UTC start of the half hour.")
    battery_kwh = models.DecimalField(
        **SIGNED_KWH,
        help_text="At the battery's AC terminals: + charge into the battery, - discharge.",
    )
    ev_kwh = models.DecimalField(**KWH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["icp", "interval_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["icp", "interval_start"], name="one_dispatch_per_icp_interval"
            ),
            models.CheckConstraint(condition=models.Q(ev_kwh__gte=0), name="dispatch_ev_kwh_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.icp} {self.interval_start:%Y-%m-%d %H:%M}Z battery {self.battery_kwh} EV {self.ev_kwh}"


class StorageState(models.Model):
    """A battery's state of charge at the start of a half hour, as the simulated home (or a
    real device's report) left it: where the next simulation carries on from."""

    icp = models.ForeignKey(ICP, on_delete=models.CASCADE, related_name="storage_states")
    interval_start = models.DateTimeField(help_text="UTC start of the half hour.")
    soc_kwh = models.DecimalField(**KWH)

    class Meta:
        ordering = ["icp", "interval_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["icp", "interval_start"], name="one_storage_state_per_icp_interval"
            )
        ]

    def __str__(self) -> str:
        return f"{self.icp} {self.interval_start:%Y-%m-%d %H:%M}Z {self.soc_kwh} kWh"
