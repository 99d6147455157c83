"""`manage.py bench_polling --meters N`: one minute's polling of N simulated meters, in the
batches beat sends (one task per 200 meters). Prints JSON with the tasks a minute and seconds
per pass, for a pass that catches up a new half hour and for a quiet pass."""

import datetime as dt
import json
import time
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from config.benchmarks import database_ready
from coop import nz
from coop.models import ICP, PVSystem
from metering.models import Meter, Reading
from metering.services.polling import batches, meters_poll


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--meters", type=int, default=1000)

    def handle(self, *args: Any, meters: int, **options: Any) -> None:
        database_ready()
        ids = []
        for i in range(meters):
            base = f"{7_700_000_000 + i:010d}PB"
            icp, created = ICP.objects.get_or_create(
                identifier=base + nz.icp_checksum(base),
                defaults={
                    "address": f"Bench {i}",
                    "grid_exit_point": "PEN0331",
                    "latitude": Decimal("-36.9"),
                    "longitude": Decimal("174.81"),
                },
            )
            if created and i % 2:
                PVSystem.objects.create(icp=icp, capacity_kwp=Decimal(5), inverter_kw=Decimal(5))
            meter, _ = Meter.objects.get_or_create(icp=icp)
            ids.append(meter.pk)
        now = dt.datetime(2026, 7, 8, 2, 1, tzinfo=dt.UTC)
        meters_poll(
            meter_ids=ids, now=now - dt.timedelta(minutes=30)
        )  # history up to the last half hour
        timings = {}
        for label, at in (("new_half_hour", now), ("quiet", now + dt.timedelta(minutes=1))):
            start = time.perf_counter()
            for batch in batches(ids):
                meters_poll(meter_ids=batch, now=at)
            timings[label] = round(time.perf_counter() - start, 2)
        Reading.objects.filter(icp__meter__in=ids).delete()
        ICP.objects.filter(identifier__endswith="PB", meter__in=ids).delete()  # leave no trace
        self.stdout.write(
            json.dumps(
                {
                    "meters": meters,
                    "tasks_per_minute": len(batches(ids)),
                    "seconds_new_half_hour": timings["new_half_hour"],
                    "seconds_quiet_minute": timings["quiet"],
                }
            )
        )
