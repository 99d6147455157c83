"""Metering data streams held as columns, and their sum per ICP and half hour.

A retailer's file can hold millions of half-hour values, so they are kept as numpy columns
rather than one object each. Energy is an exact integer number of watt-hours (the co-op stores
kWh to three places); codes index into the small lists of ICPs, half hours and stream names.
Pure: no Django.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Protocol

import numpy as np

from coop.units import kwh_to_wh


class StreamValue(Protocol):
    """What a record of either file format offers (eiep3.Record). Read-only: a NamedTuple's
    fields cannot be assigned."""

    @property
    def line(self) -> int: ...
    @property
    def icp(self) -> str: ...
    @property
    def stream(self) -> str: ...
    @property
    def reading_type(self) -> str: ...
    @property
    def interval_start(self) -> dt.datetime: ...
    @property
    def kwh(self) -> Decimal: ...
    @property
    def flow(self) -> str: ...


@dataclass(frozen=True)
class Streams:
    """One row per stream value: ICP, half hour, stream, watt-hours, flow and estimate flag."""

    icps: list[str]  # identifiers; `icp` indexes into it
    starts: list[dt.datetime]  # UTC half-hour starts; `slot` indexes into it
    stream_names: list[str]  # data stream identifiers; `stream` indexes into it
    icp: np.ndarray  # int32
    slot: np.ndarray  # int32
    stream: np.ndarray  # int32
    wh: np.ndarray  # int64
    export: np.ndarray  # bool: injection into the grid (flow I), else consumption (flow X)
    estimated: np.ndarray  # bool
    line: np.ndarray  # int64: where the value is in its file

    def __len__(self) -> int:
        return len(self.wh)

    @classmethod
    def from_records(cls, records: Sequence[StreamValue]) -> Streams:
        """Columns from record objects (EIEP13A files, which are one household's)."""
        icps: dict[str, int] = {}
        starts: dict[dt.datetime, int] = {}
        names: dict[str, int] = {}
        for r in records:
            icps.setdefault(r.icp, len(icps))
            starts.setdefault(r.interval_start, len(starts))
            names.setdefault(r.stream, len(names))
        return cls(
            icps=list(icps),
            starts=list(starts),
            stream_names=list(names),
            icp=np.array([icps[r.icp] for r in records], np.int32),
            slot=np.array([starts[r.interval_start] for r in records], np.int32),
            stream=np.array([names[r.stream] for r in records], np.int32),
            wh=np.array([kwh_to_wh(r.kwh) for r in records], np.int64),
            export=np.array([r.flow == "I" for r in records], bool),
            estimated=np.array([r.reading_type == "E" for r in records], bool),
            line=np.array([r.line for r in records], np.int64),
        )

    def first_lines(self) -> dict[str, int]:
        """The first line each ICP appears on, to point a person at it."""
        codes, first = np.unique(self.icp, return_index=True)
        return {self.icps[c]: int(self.line[i]) for c, i in zip(codes, first, strict=True)}

    def half_hours(self) -> HalfHours:
        """Streams summed per ICP and half hour: flow X is import, flow I export; a half hour
        is estimated if any value in it is."""
        slots = max(len(self.starts), 1)
        key = self.icp.astype(np.int64) * slots + self.slot
        keys, inverse = np.unique(key, return_inverse=True)
        n = len(keys)
        import_wh = np.zeros(n, np.int64)
        export_wh = np.zeros(n, np.int64)
        np.add.at(import_wh, inverse[~self.export], self.wh[~self.export])
        np.add.at(export_wh, inverse[self.export], self.wh[self.export])
        estimated = np.zeros(n, bool)
        estimated[inverse[self.estimated]] = True
        return HalfHours(
            icps=self.icps,
            starts=self.starts,
            icp=(keys // slots).astype(np.int32),
            slot=(keys % slots).astype(np.int32),
            import_wh=import_wh,
            export_wh=export_wh,
            estimated=estimated,
        )


@dataclass(frozen=True)
class HalfHours:
    """Energy through each ICP in each half hour, in watt-hours, sorted by ICP then slot."""

    icps: list[str]
    starts: list[dt.datetime]
    icp: np.ndarray
    slot: np.ndarray
    import_wh: np.ndarray
    export_wh: np.ndarray
    estimated: np.ndarray

    def __len__(self) -> int:
        return len(self.icp)

    @cached_property
    def span(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The first and last half hour's start (None, None when empty)."""
        used = [self.starts[s] for s in np.unique(self.slot)]
        return min(used, default=None), max(used, default=None)
