"""What the co-op knows about its LV network, as the power flow's input: the network model
from the admin's transformers, feeders, segments and ICPs, and each connection's net load per
trading period of a horizon.

The forecast of an ICP's net import in a half hour:
- household load from its own recent readings for that half hour of the day (co-op data only,
  never a resident's upload: the last `HISTORY_DAYS` days, at least `MIN_DAYS` of them), with
  the PV the household model estimates for those days added back (the meter sees load less
  PV); without enough readings, the household model's load (GREEN Grid shape, its EV habit);
- minus its PV from pvlib for its panels and the day (the household model's sky);
- plus its EV at its usual plug-in time, when the load did not come from readings (readings
  already hold the EV's habit).
The other customers on the feeder's transformer (not the co-op's) load it at its LV board with
the typical NZ household's mean day, less their rooftop solar under the same sky.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from coop.cables import CABLE_TYPES
from coop.models import ICP, Feeder, LineSegment
from metering import household_model
from metering.houses import spec_for
from metering.models import Reading
from trading.timevalue.grid import (
    ConnectionSpec,
    FeederSpec,
    Network,
    NetworkError,
    SegmentSpec,
    TransformerSpec,
)

log = logging.getLogger(__name__)

HISTORY_DAYS = 7
MIN_DAYS = 3
HALF_HOUR = dt.timedelta(minutes=30)
AGGREGATE_CABLE = "NAYY 4x150 SE"  # other customers sit at their segment's pole or pillar
assert AGGREGATE_CABLE in CABLE_TYPES


@dataclass(frozen=True)
class Model:
    """The network the power flow solves, and what each feeder could not be given."""

    network: Network
    feeders: dict[str, Feeder]  # key -> row, every feeder that is in `network`
    icps: dict[str, ICP]  # connection key -> ICP, members' connections only
    others: dict[str, tuple[Feeder, float]]  # connection key -> (feeder, share of its others)
    left_out: dict[int, str]  # feeder id -> why it has no power flow (it falls back)


def _feeder_network(
    feeder: Feeder, segments: Sequence[LineSegment], icps: Sequence[ICP]
) -> tuple[Network, dict[str, ICP], dict[str, tuple[Feeder, float]]]:
    transformer = feeder.transformer
    assert transformer is not None
    t_key, f_key = f"t{transformer.pk}", f"f{feeder.pk}"
    network_segments = tuple(
        SegmentSpec(
            key=f"s{s.pk}",
            feeder=f_key,
            upstream=f"s{s.upstream_id}" if s.upstream_id else None,
            length_m=float(s.length_m),
            cable_type=s.cable_type,
        )
        for s in segments
    )
    connections = [
        ConnectionSpec(
            key=f"i{icp.pk}",
            feeder=f_key,
            segment=f"s{icp.connection_segment_id}" if icp.connection_segment_id else None,
            service_length_m=float(icp.service_length_m),
            service_cable_type=icp.service_cable_type,
        )
        for icp in icps
    ]
    others: dict[str, tuple[Feeder, float]] = {}
    if feeder.other_customers or feeder.other_pv_kwp:
        # They are on the transformer's other circuits: they load it (and move its LV board's
        # voltage) but not the co-op's own cables.
        key = f"o{feeder.pk}"
        others[key] = (feeder, 1.0)
        connections.append(
            ConnectionSpec(
                key=key,
                feeder=f_key,
                segment=None,
                service_length_m=1.0,
                service_cable_type=AGGREGATE_CABLE,
            )
        )
    network = Network(
        transformers=(
            TransformerSpec(
                key=t_key,
                rating_kva=float(transformer.rating_kva),
                hv_kv=float(transformer.hv_kv),
                lv_kv=float(transformer.lv_kv),
                vk_percent=float(transformer.impedance_percent),
                vkr_percent=float(transformer.resistance_percent),
            ),
        ),
        feeders=(FeederSpec(key=f_key, transformer=t_key),),
        segments=network_segments,
        connections=tuple(connections),
    )
    return network, {f"i{icp.pk}": icp for icp in icps}, others


def network_model(feeders: Sequence[Feeder] | None = None) -> Model:
    """The network of `feeders` (all of them by default). A feeder that cannot be modelled (no
    transformer, a bad segment) is left out with the reason, and the others still are."""
    rows = list(feeders if feeders is not None else Feeder.objects.select_related("transformer"))
    segments: dict[int, list[LineSegment]] = defaultdict(list)
    for s in LineSegment.objects.filter(feeder__in=rows).order_by("pk"):
        segments[s.feeder_id].append(s)
    icps: dict[int | None, list[ICP]] = defaultdict(list)
    for icp in ICP.objects.filter(feeder__in=rows).prefetch_related(
        "pv_systems", "batteries", "evs"
    ):
        icps[icp.feeder_id].append(icp)
    parts: list[Network] = []
    by_key: dict[str, Feeder] = {}
    members: dict[str, ICP] = {}
    others: dict[str, tuple[Feeder, float]] = {}
    left_out: dict[int, str] = {}
    for feeder in rows:
        if feeder.transformer_id is None:
            left_out[feeder.pk] = f"Feeder {feeder.name} has no transformer."
            continue
        part, part_icps, part_others = _feeder_network(feeder, segments[feeder.pk], icps[feeder.pk])
        try:
            part.validate()
        except NetworkError as exc:
            left_out[feeder.pk] = f"Feeder {feeder.name}: {exc}"
            continue
        parts.append(part)
        by_key[f"f{feeder.pk}"] = feeder
        members.update(part_icps)
        others.update(part_others)
    transformers = {t.key: t for p in parts for t in p.transformers}
    network = Network(
        transformers=tuple(transformers.values()),
        feeders=tuple(f for p in parts for f in p.feeders),
        segments=tuple(s for p in parts for s in p.segments),
        connections=tuple(c for p in parts for c in p.connections),
    )
    return Model(network, by_key, members, others, left_out)


def _starts_index(starts: Sequence[dt.datetime]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(list(starts)).tz_convert("UTC")


def _slot(when: dt.datetime) -> int:
    local = pd.Timestamp(when).tz_convert("Pacific/Auckland")
    return local.hour * 2 + local.minute // 30


def _load_from_readings(
    icps: Sequence[ICP], starts: Sequence[dt.datetime], since: dt.datetime, until: dt.datetime
) -> dict[int, np.ndarray]:
    """{ICP id: kW per start} from its readings of the same half hour of the day, where it
    has at least MIN_DAYS of them: the household's load (PV added back), not its net."""
    wanted = [icp.pk for icp in icps]
    rows = (
        Reading.objects.filter(
            icp_id__in=wanted, interval_start__gte=since, interval_start__lt=until
        )
        .exclude(quality=Reading.Quality.UPLOADED)
        .values_list("icp_id", "interval_start", "import_kwh", "export_kwh")
    )
    by_icp: dict[int, list[tuple[dt.datetime, float]]] = defaultdict(list)
    for icp_id, start, imported, exported in rows.iterator(chunk_size=5000):
        by_icp[icp_id].append((start, float(imported - exported)))
    result: dict[int, np.ndarray] = {}
    slots = np.array([_slot(s) for s in starts])
    for icp in icps:
        seen = by_icp.get(icp.pk)
        if not seen:
            continue
        spec = spec_for(icp)
        when = _starts_index([s for s, _ in seen])
        net = np.array([v for _, v in seen])
        load = net + household_model.pv_kwh(spec, when)  # the meter saw load less PV
        seen_slots = np.array([_slot(s) for s in when])
        kw = np.full(len(starts), np.nan)
        for slot in np.unique(slots):
            here = load[seen_slots == slot]
            if len(here) >= MIN_DAYS:
                kw[slots == slot] = max(float(here.mean()), 0.0) * 2  # kWh per half hour -> kW
        if not np.isnan(kw).any():
            result[icp.pk] = kw
    return result


@dataclass(frozen=True)
class HomeForecast:
    """One ICP's forecast per start, kW: household load without the EV, PV, and the EV's
    habit (zero where the load came from readings, which already hold it)."""

    load_kw: np.ndarray
    pv_kw: np.ndarray
    ev_kw: np.ndarray


def home_forecasts(
    icps: Sequence[ICP], starts: Sequence[dt.datetime], *, now: dt.datetime
) -> dict[int, HomeForecast]:
    index = _starts_index(starts)
    from_readings = _load_from_readings(icps, starts, now - dt.timedelta(days=HISTORY_DAYS), now)
    result = {}
    for icp in icps:
        spec = spec_for(icp)
        pv = household_model.pv_kwh(spec, index) * 2
        ev = household_model.ev_kwh(spec, index) * 2
        if icp.pk in from_readings:
            # Readings hold the EV's habit: take it out again, so a manager can move it.
            load = np.maximum(from_readings[icp.pk] - ev, 0.0)
        else:
            load = household_model.load_kwh(spec, index) * 2
        result[icp.pk] = HomeForecast(load, pv, ev)
    return result


def net_load_kw(
    model: Model,
    starts: Sequence[dt.datetime],
    *,
    now: dt.datetime,
    planned: dict[int, np.ndarray] | None = None,
) -> np.ndarray:
    """kW per connection (rows in the network's order) per start: the forecast net import.
    `planned` replaces an ICP's forecast with its energy manager's planned grid kW."""
    index = _starts_index(starts)
    homes = home_forecasts(list(model.icps.values()), starts, now=now)
    mean_household = household_model.mean_load_kwh(index) * 2
    result = np.zeros((len(model.network.connections), len(starts)))
    pv_per_kwp: dict[int, np.ndarray] = {}
    for row, connection in enumerate(model.network.connections):
        if connection.key in model.icps:
            icp = model.icps[connection.key]
            if planned and icp.pk in planned:
                result[row] = planned[icp.pk]
                continue
            home = homes[icp.pk]
            result[row] = home.load_kw + home.ev_kw - home.pv_kw
        else:
            feeder, share = model.others[connection.key]
            transformer = feeder.transformer
            assert transformer is not None
            if transformer.pk not in pv_per_kwp:
                unit = household_model.HouseSpec(
                    latitude=float(transformer.latitude),
                    longitude=float(transformer.longitude),
                    seed=0,
                    pv_kwp=1.0,
                    inverter_kw=1.0,
                )
                pv_per_kwp[transformer.pk] = household_model.pv_kwh(unit, index) * 2
            result[row] = share * (
                feeder.other_customers * mean_household
                - float(feeder.other_pv_kwp) * pv_per_kwp[transformer.pk]
            )
    return result
