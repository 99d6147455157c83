"""The demo's history: a first visit has settled trading periods with trades and statements."""

import datetime as dt

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from trading.demo_history import history_seed
from trading.models import MemberPeriodSummary, Trade, TradingPeriod

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
NOW = dt.datetime(2026, 7, 8, 2, 0, tzinfo=dt.UTC)  # Wednesday 14:00 NZST


def test_the_demo_seeds_a_history_run_once_by_beat_and_it_settles_trades_and_statements():
    call_command("seed_demo", verbosity=0)
    task = PeriodicTask.objects.get(task="trading.tasks.demo_history_seed")
    assert task.one_off
    settled = history_seed(days=1, now=NOW)
    periods = TradingPeriod.objects.filter(state="settled")
    assert settled == periods.count() >= 40
    assert Trade.objects.filter(period__in=periods).exists()
    assert MemberPeriodSummary.objects.filter(period__in=periods).exists()
    # Run again (beat restarted): nothing more.
    assert history_seed(days=1, now=NOW) == 0
    assert TradingPeriod.objects.filter(state="settled").count() == settled
