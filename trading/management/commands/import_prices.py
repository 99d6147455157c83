"""`manage.py import_prices FILE...`: EMI FinalEnergyPrices archives (current or legacy
format), each file refused whole with line numbers on any bad row."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from trading.live.services import prices_store
from trading.prices.archive import ArchiveError, parse


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+")

    def handle(self, *args: Any, files: list[str], **options: Any) -> None:
        for name in files:
            try:
                with open(name, encoding="utf-8-sig") as handle:
                    points = parse(handle)
            except ArchiveError as exc:
                raise CommandError(f"{name}: nothing imported: {exc}") from exc
            except OSError as exc:
                raise CommandError(f"{name}: {exc}") from exc
            with transaction.atomic():
                added = prices_store(points=points)
            self.stdout.write(f"{name}: {len(points)} prices read, {added} new")
