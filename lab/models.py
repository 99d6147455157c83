"""The lab's records: scenarios researchers keep, and the runs made of them (with the scenario
text as it was run, so a report can always be traced to its inputs)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from lab.core.scenario import Scenario as ParsedScenario
from lab.core.scenario import ScenarioError, check_data_folders, parse


def scenarios_dir() -> Path:
    """Where a saved scenario's relative file paths start: the folder of the example files."""
    return Path(settings.BASE_DIR) / "lab" / "scenarios"


def parse_for_site(text: str, source: str = "scenario") -> ParsedScenario:
    """A scenario from the site: parsed, and reading only from the lab's data folders
    (LAB_DATA_DIRS). Whether its files exist is checked when it runs, on the worker's disk."""
    scenario = parse(text, base=scenarios_dir(), source=source)
    try:
        check_data_folders(scenario, [Path(p) for p in settings.LAB_DATA_DIRS])
    except ScenarioError as exc:
        raise ScenarioError(exc.errors, source) from exc
    return scenario


def check_scenario(text: str) -> None:
    """A model field validator: the scenario must parse and read only the lab's data."""
    try:
        parse_for_site(text)
    except ScenarioError as exc:
        raise ValidationError(exc.errors) from exc


class Scenario(models.Model):
    name = models.CharField(max_length=120, unique=True)
    text = models.TextField(
        "scenario (YAML)",
        validators=[check_scenario],
        help_text="Keys: name, seed, community, span, data, tariffs, fees, bidding, "
        "time_value, designs. See docs/research.md.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Sweep(models.Model):
    """One scenario run several times with one setting stepped (e.g. the battery share)."""

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="sweeps")
    setting = models.CharField(max_length=80, help_text="e.g. community.mix.battery")
    values = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.scenario}: {self.setting} in {self.values}"


class Run(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    scenario = models.ForeignKey(
        Scenario, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    sweep = models.ForeignKey(
        Sweep, null=True, blank=True, on_delete=models.CASCADE, related_name="runs"
    )
    sweep_value = models.JSONField(null=True, blank=True)
    name = models.CharField(max_length=200)
    text = models.TextField(help_text="the scenario exactly as it was run")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    stage = models.CharField(max_length=120, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    chunks = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    summary = models.JSONField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)
    # When the worker running it last said so: a start whose worker died is taken over.
    heartbeat = models.DateTimeField(null=True, blank=True)
    starts = models.PositiveSmallIntegerField(default=0)  # taken over at most once
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"

    @property
    def folder(self) -> Path:
        return Path(settings.LAB_RUNS_DIR) / f"run-{self.pk}"

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0
