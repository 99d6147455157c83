"""`manage.py fetch_emi_prices --from 2025-08 --to 2026-07 --node PEN0331`: EMI's monthly
FinalEnergyPrices files, cut down to one node, ready to name in a lab scenario's price_files.

Each month's file holds every node (~350,000 rows): it is downloaded, filtered to the node's
rows (header kept), validated as any price file is (trading.prices.archive; a bad file is
refused and nothing written) and written atomically as DIR/{NODE}_{YYYYMM}_FinalEnergyPrices.csv.
A month already there is skipped unless --force. One line per month, then a JSON summary.
Source: Electricity Authority (New Zealand), EMI datasets (CC BY 4.0).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lab.core.inputs import InputError, node_prices, other_nodes_message
from trading.prices.points import NODE

DEFAULT_URL = (
    "https://www.emi.ea.govt.nz/Wholesale/Datasets/DispatchAndPricing/FinalEnergyPrices/ByMonth/"
)
MAX_BYTES = 200 * 1024 * 1024  # a monthly all-node file is ~15 MB; far more is not one
TIMEOUT = (10, 120)  # seconds to connect, and between bytes while reading
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _month(text: str, option: str) -> tuple[int, int]:
    match = _MONTH.match(text)
    if match is None or not 1 <= int(match[2]) <= 12:
        raise CommandError(f"{option} {text!r} is not a month: write YYYY-MM, e.g. 2025-08")
    return int(match[1]), int(match[2])


def _months(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    months = []
    year, month = first
    while (year, month) <= last:
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _download(url: str, label: str) -> str:
    try:
        with requests.get(url, stream=True, timeout=TIMEOUT) as response:
            if response.status_code == 404:
                raise CommandError(
                    f"{label}: EMI has no monthly file for {label} yet (it publishes a month "
                    f"after it ends); use daily files or an earlier --to ({url} is not found)"
                )
            response.raise_for_status()
            if int(response.headers.get("Content-Length") or 0) > MAX_BYTES:
                raise CommandError(
                    f"{label}: {url} is over {MAX_BYTES / 2**20:g} MB: not a price file"
                )
            chunks, size = [], 0
            for chunk in response.iter_content(chunk_size=1 << 20):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise CommandError(
                        f"{label}: {url} is over {MAX_BYTES / 2**20:g} MB: not a price file"
                    )
                chunks.append(chunk)
    except requests.RequestException as exc:
        raise CommandError(
            f"{label}: could not fetch {url}: {exc}. Check the network, or point --base-url "
            "(or the EMI_DATASETS_URL setting) at a mirror of EMI's monthly files"
        ) from exc
    try:
        return b"".join(chunks).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CommandError(f"{label}: {url} is not UTF-8 text: nothing written") from exc


def _write_atomically(target: Path, lines: list[str]) -> None:
    """Write beside the target, then rename: a reader never sees half a file."""
    descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            handle.write("\n".join(lines) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _fetch_month(url: str, node: str, month: tuple[int, int], target: Path) -> int:
    """Download, cut to the node, check and write one month; the node's row count."""
    label = f"{month[0]}-{month[1]:02d}"
    text = _download(url, label)
    try:
        lines, points = node_prices(text, node, url)
    except InputError as exc:
        raise CommandError(f"{label}: refused, nothing written: {exc}") from exc
    if not points:
        raise CommandError(
            f"{label}: {url} {other_nodes_message(text, node)}: nothing written; check --node"
        )
    stray = min(
        (p.trading_date for p in points if p.trading_date.timetuple()[:2] != month),
        default=None,
    )
    if stray is not None:
        raise CommandError(
            f"{label}: {url} has prices outside {label} (from {stray}): not that month's "
            "file; nothing written"
        )
    _write_atomically(target, lines)
    return len(points)


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="first", required=True, metavar="YYYY-MM")
        parser.add_argument("--to", dest="last", required=True, metavar="YYYY-MM")
        parser.add_argument("--node", required=True, help="grid exit point, e.g. PEN0331")
        parser.add_argument("--out", help="folder for the files (default: var/prices)")
        parser.add_argument("--base-url", help=f"where the monthly files are ({DEFAULT_URL})")
        parser.add_argument("--force", action="store_true", help="fetch months already here")

    def handle(self, *args: Any, **options: Any) -> None:
        first = _month(options["first"], "--from")
        last = _month(options["last"], "--to")
        if first > last:
            raise CommandError(f"--from {options['first']} is after --to {options['last']}")
        node = options["node"]
        if not NODE.match(node):
            raise CommandError(
                f"--node {node!r} is not a node code: 3 capital letters and 4 digits, e.g. PEN0331"
            )
        out = Path(options["out"]) if options["out"] else Path(settings.VAR_DIR) / "prices"
        base = options["base_url"] or getattr(settings, "EMI_DATASETS_URL", DEFAULT_URL)
        base = base if base.endswith("/") else base + "/"
        out.mkdir(parents=True, exist_ok=True)
        months = _months(first, last)
        files: list[str] = []
        skipped: list[str] = []
        rows = 0
        for year, month in months:
            label = f"{year}-{month:02d}"
            target = out / f"{node}_{year}{month:02d}_FinalEnergyPrices.csv"
            if target.exists() and not options["force"]:
                skipped.append(label)
                self.stdout.write(f"{label}: {target} is already here (--force fetches it again)")
                continue
            count = _fetch_month(
                f"{base}{year}{month:02d}_FinalEnergyPrices.csv", node, (year, month), target
            )
            rows += count
            files.append(str(target))
            self.stdout.write(f"{label}: {count} prices for {node} -> {target}")
        summary = {
            "node": node,
            "months": [f"{y}-{m:02d}" for y, m in months],
            "files": files,
            "rows": rows,
            "skipped": skipped,
        }
        self.stdout.write(json.dumps(summary))
