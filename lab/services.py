"""Writes of the lab: scenarios saved, runs and sweeps started."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from django.db import transaction

from lab.core.scenario import ScenarioError
from lab.models import Run, Scenario, Sweep, parse_for_site
from lab.pipeline import scenario_of

# What a sweep may step: numeric settings a study typically varies.
SWEEPABLE = (
    "community.homes",
    "community.mix.pv",
    "community.mix.battery",
    "community.mix.ev",
    "fees.coop_fee_c",
    "fees.network_c",
    "seed",
)
MAX_SWEEP_VALUES = 21


def run_create(*, scenario: Scenario, user: Any, text: str | None = None) -> Run:
    """Queue a run of a scenario (its text as saved now, or `text`)."""
    run = Run.objects.create(
        scenario=scenario, name=scenario.name, text=text or scenario.text, created_by=user
    )
    scenario_of(run)  # refused here, before anything is queued, if it does not parse
    _queue(run)
    return run


def _queue(run: Run) -> None:
    from lab.tasks import run_start

    transaction.on_commit(lambda: run_start.delay(run.pk))


def with_setting(text: str, setting: str, value: Any) -> str:
    """The scenario text with one setting changed (comments are not kept)."""
    data = yaml.safe_load(text)
    target = copy.deepcopy(data)
    node = target
    *parents, last = setting.split(".")
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ScenarioError([f"{setting}: {key} is not a mapping in this scenario"])
    node[last] = value
    return yaml.safe_dump(target, sort_keys=False, allow_unicode=True)


def sweep_create(*, scenario: Scenario, setting: str, values: list[Any], user: Any) -> Sweep:
    """One run per value, all queued at once: each fans its market out over the workers."""
    if setting not in SWEEPABLE:
        raise ScenarioError([f"{setting!r} cannot be swept; choose one of {', '.join(SWEEPABLE)}"])
    if not values or len(values) > MAX_SWEEP_VALUES:
        raise ScenarioError([f"a sweep needs 1 to {MAX_SWEEP_VALUES} values, not {len(values)}"])
    texts = []
    for value in values:
        text = with_setting(scenario.text, setting, value)
        try:
            parse_for_site(text)
        except ScenarioError as exc:
            raise ScenarioError([f"{setting} = {value}: {e}" for e in exc.errors]) from exc
        texts.append(text)
    with transaction.atomic():
        sweep = Sweep.objects.create(
            scenario=scenario, setting=setting, values=list(values), created_by=user
        )
        for value, text in zip(values, texts, strict=True):
            run = Run.objects.create(
                scenario=scenario,
                sweep=sweep,
                sweep_value=value,
                name=f"{scenario.name}: {setting} = {value}",
                text=text,
                created_by=user,
            )
            _queue(run)
    return sweep
