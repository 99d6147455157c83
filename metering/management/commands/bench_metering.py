"""`manage.py bench_metering --rows N`: a bulk EIEP3 import into the configured database.

Prints JSON {"rows", "seconds", "rows_per_second", "database"}. The file is generated first
(not timed); the timed part is parse, validate, aggregate and write, as an upload would be.
Creates its own bench ICPs and removes their readings afterwards.
"""

import datetime as dt
import json
import time
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from config.benchmarks import database_ready
from coop import nz
from coop.models import ICP
from metering.formats import eiep3
from metering.models import Reading, ReadingRevision
from metering.services.eiep_import import eiep3_import


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=1_000_000)

    def handle(self, *args: Any, rows: int, **options: Any) -> None:
        database_ready()
        icp_count = max(1, rows // (48 * 30))
        icps = []
        for i in range(icp_count):
            base = f"{8_800_000_000 + i:010d}BN"
            icp, _ = ICP.objects.get_or_create(
                identifier=base + nz.icp_checksum(base),
                defaults={
                    "address": f"Bench {i}",
                    "grid_exit_point": "PEN0331",
                    "latitude": Decimal("-36.9"),
                    "longitude": Decimal("174.8"),
                },
            )
            icps.append(icp)
        first = dt.date(2026, 5, 1)
        records = []
        for icp in icps:
            for day in range(30):
                date = first + dt.timedelta(days=day)
                for period in range(1, 49):
                    records.append(
                        (
                            icp.identifier,
                            "X1",
                            "F",
                            date,
                            period,
                            Decimal(100 + (period * 37 + day) % 900) / 1000,
                            "X",
                            "",
                        )
                    )
                    if len(records) >= rows:
                        break
                if len(records) >= rows:
                    break
        text = eiep3.write(records)
        start = time.perf_counter()
        result = eiep3_import(text=text, source="bench")
        seconds = time.perf_counter() - start
        ReadingRevision.objects.filter(reading__icp__in=icps).delete()
        Reading.objects.filter(icp__in=icps).delete()
        ICP.objects.filter(pk__in=[icp.pk for icp in icps]).delete()  # leave no trace
        if connection.vendor == "postgresql":
            # Nor a million dead rows for the next import (or the next run) to wade through.
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM {Reading._meta.db_table}")
        self.stdout.write(
            json.dumps(
                {
                    "rows": len(records),
                    "readings": result.readings,
                    "seconds": round(seconds, 3),
                    "rows_per_second": round(len(records) / seconds),
                    "database": connection.vendor,
                }
            )
        )
