"""A backtest: a scenario's community through its span under every design, side by side.

`prepare` reads and checks every input (price files, weather, load shapes) before any work
starts, so a bad file is refused in seconds, not at minute 50. `run` then:

1. moves power: each battery strategy gives the homes' flows (none, self-consumption, and the
   energy manager planning against the prices it faces: with the time-value network price on,
   those include the distributor's price, so it can move the transformer peak);
2. runs the power flow over every period with the linearised model (checked against the full
   pandapower flow on sampled periods) and prices each feeder and period by time value, from
   the flows forecast before the energy managers respond (one round: the live market iterates);
3. moves money: every p2p design clears each period with the live engine and settles it to
   exactly zero (lab.core.market); retailer-only is the same settlement with no trades;
4. reduces it all to the report's frames.

Designs are compared with perfect foresight of load and PV: the point is the design, not the
forecast. Everything is deterministic in the scenario's seed.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from lab.core import flow as linear_flow
from lab.core import inputs, kpis, market, storage
from lab.core.calendar import Calendar, calendar
from lab.core.community import Community, HomeSpec, generate
from lab.core.emissions import NZ_GRID_2024
from lab.core.results import DESIGN_COLUMNS, Design, Provenance, Results
from lab.core.scenario import Scenario
from trading.timevalue import formula
from trading.timevalue.grid import FlowResults

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Progress = Callable[[str, int, int], None]
SEASONS = {"summer": (12, 1, 2), "winter": (6, 7, 8)}


def _quiet(*progress: object) -> None:
    """No progress wanted."""


@dataclass(eq=False)
class Prepared:
    scenario: Scenario
    community: Community
    cal: Calendar
    prices: inputs.PriceSeries
    load: Floats  # (H, T) kWh
    pv: Floats  # (H, T) kWh
    sessions: list[list[Any]]
    ev: Floats  # (H, T) kWh, charging on arrival
    others_kw: Floats  # (community.others, T) net kW of non-member aggregates
    tariff: market.TariffTable
    months: tuple[str, ...]  # "2026-05", ... in span order
    month_index: Ints  # (T,) index into months
    provenance: list[Provenance] = field(default_factory=list)


def prepare(
    scenario: Scenario, community: Community | None = None, *, read_data: bool = True
) -> Prepared:
    """Every input read and checked; InputError names the file, line or key at fault. Without
    `read_data`, only what clearing needs (the community, calendar and tariffs): a market
    chunk works from the power already moved."""
    if community is None:
        community = generate(scenario.community, [k for k, _ in scenario.tariffs], scenario.seed)
    if not community.homes:
        raise inputs.InputError("community.homes", "the community has no homes to study")
    tariffs = dict(scenario.tariffs) | dict(community.tariffs)
    for home in community.homes:
        if home.tariff not in tariffs:
            raise inputs.InputError(
                f"home {home.key}", f"is on tariff {home.tariff!r}, which tariffs: does not define"
            )
    cal = calendar(scenario.first, scenario.last)
    data = scenario.data
    provenance: list[Provenance] = []
    empty = np.zeros((len(community.homes), 0))
    prices = inputs.PriceSeries(community.node, np.zeros(0), np.zeros(0, bool), ())
    load = pv = ev = empty
    others_kw = np.zeros((len(community.others), 0))
    sessions: list[list[Any]] = []
    if read_data:
        prices, found = inputs.wholesale_prices(
            cal,
            community.node,
            data.price_files,
            allow_synthetic=data.synthetic_prices,
            seed=scenario.seed,
        )
        provenance += found
        clearness, found = inputs.daily_clearness(
            cal,
            data.generation_file,
            latitude=community.latitude,
            longitude=community.longitude,
            allow_synthetic=data.synthetic_weather,
            seed=scenario.seed,
        )
        provenance += found
        load, found = inputs.load_kwh(cal, community.homes, data.consumption_file)
        provenance += found
        pv = inputs.pv_kwh(cal, community.homes, clearness)
        provenance.append(
            Provenance(
                "rooftop PV",
                "pvlib clear-sky irradiance on each home's panel plane x the day's real cloudiness",
                f"{sum(h.pv_kwp for h in community.homes):.1f} kWp in "
                f"{sum(h.pv_kwp > 0 for h in community.homes)} homes",
            )
        )
        if community.others:
            others_kw = _others_kw(cal, community, data.consumption_file, clearness)
        sessions = storage.ev_sessions(cal, list(community.homes))
        ev = storage.ev_on_arrival(cal, list(community.homes), sessions)
        provenance.append(
            Provenance(
                "EVs",
                "habit: plugged in each evening, the day's driving replaced by the morning",
                f"{sum(h.has_ev for h in community.homes)} EVs",
            )
        )
    months = tuple(dict.fromkeys(str(d)[:7] for d in cal.local_date))
    month_index = np.searchsorted(np.array(months), cal.local_date.astype(str).astype("U7"))
    return Prepared(
        scenario=scenario,
        community=community,
        cal=cal,
        prices=prices,
        load=load,
        pv=pv,
        sessions=sessions,
        ev=ev,
        others_kw=others_kw,
        tariff=market.tariff_table(cal, tariffs, [h.tariff for h in community.homes]),
        months=months,
        month_index=month_index.astype(np.int64),
        provenance=provenance,
    )


TYPICAL_HOUSE_KWH = 7000.0  # a year: a typical NZ house (6,000-8,000 kWh)


def _others_kw(
    cal: Calendar, community: Community, shapes: Path | None, clearness: inputs.Clearness
) -> Floats:
    """Net kW of each aggregate of non-member customers: their houses less their PV."""
    out = np.zeros((len(community.others), cal.periods))
    for i, other in enumerate(community.others):
        houses = other.houses(TYPICAL_HOUSE_KWH)
        if houses:
            load, _ = inputs.load_kwh(cal, houses, shapes)
            out[i] += load.sum(axis=0) * 2.0
        if other.pv_kwp > 0:
            out[i] -= inputs.pv_kwh(cal, [other.panels()], clearness)[0] * 2.0
    return out


@dataclass(eq=False)
class Physical:
    """One battery strategy's flows, reduced to what clearing and the report need: the meters
    each period (the market's input) and the physical figures (the report's), small enough to
    pass between workers as one file."""

    import_wh: Ints  # (T, H)
    export_wh: Ints  # (T, H)
    tv_import_units: Ints  # (F, T) the feeders' time-value import price
    tv_credit_units: Ints  # (F, T) and export credit
    home_pv: Floats  # (H,) kWh
    home_load: Floats  # (H,) kWh, the EV included
    community: Floats  # (6, T) kWh: pv, load (with EV), battery (discharge - charge), import,
    # export, and the community's exchange through its transformers (net import)
    transformer_kw: Floats  # (transformers, 2): peak import, peak export
    loading_curves: Floats  # (transformers, points) loading %, highest first
    hours_over: Floats  # (2,) transformer-hours over 80% and 100%
    min_voltage_pu: float

    ARRAYS = (
        "import_wh",
        "export_wh",
        "tv_import_units",
        "tv_credit_units",
        "home_pv",
        "home_load",
        "community",
        "transformer_kw",
        "loading_curves",
        "hours_over",
    )

    METERS = ("import_wh", "export_wh")  # a half hour's Wh fit int32: half the file

    def to_arrays(self, prefix: str) -> dict[str, Any]:
        out = {f"{prefix}{n}": getattr(self, n) for n in self.ARRAYS}
        for n in self.METERS:
            out[f"{prefix}{n}"] = getattr(self, n).astype(np.int32)
        out[f"{prefix}min_voltage_pu"] = np.array([self.min_voltage_pu])
        return out

    @classmethod
    def from_arrays(cls, arrays: Any, prefix: str) -> Physical:
        loaded = {n: np.asarray(arrays[f"{prefix}{n}"]) for n in cls.ARRAYS}
        for n in cls.METERS:
            loaded[n] = np.ascontiguousarray(loaded[n], dtype=np.int64)
        return cls(**loaded, min_voltage_pu=float(arrays[f"{prefix}min_voltage_pu"][0]))


@dataclass(eq=False)
class Simulation:
    """Power moved under every battery strategy the designs need, keyed (battery, time value),
    with the prices and sources it was moved on: the report is made from this, so it never
    reads the data files again (and cannot disagree with them if they change meanwhile)."""

    physical: dict[tuple[str, bool], Physical]
    flow_check: dict[str, float]
    adjustments: dict[str, float]
    prices: inputs.PriceSeries
    provenance: tuple[Provenance, ...]

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = {}
        # Strategies whose power does not depend on the network price (none, self-consumption)
        # are one Physical under both keys: written once, the other key an alias.
        written: dict[int, str] = {}
        aliases: dict[str, str] = {}
        for (battery, on), ph in self.physical.items():
            key = f"{battery}|{int(on)}"
            if id(ph) in written:
                aliases[key] = written[id(ph)]
                continue
            written[id(ph)] = key
            arrays |= ph.to_arrays(f"{key}|")
        arrays["price_c"] = self.prices.price_c
        arrays["synthetic"] = self.prices.synthetic
        meta = {
            "flow_check": self.flow_check,
            "adjustments": self.adjustments,
            "node": self.prices.node,
            "files": list(self.prices.files),
            "provenance": [[p.input, p.source, p.detail] for p in self.provenance],
            "aliases": aliases,
        }
        arrays["meta"] = np.array([json.dumps(meta)])
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Simulation:
        with np.load(path) as arrays:
            meta = json.loads(str(arrays["meta"][0]))
            keys = {"|".join(k.split("|")[:2]) for k in arrays.files if "|" in k}
            stored = {key: Physical.from_arrays(arrays, f"{key}|") for key in keys}
            stored |= {key: stored[target] for key, target in meta["aliases"].items()}
            physical: dict[tuple[str, bool], Physical] = {}
            for key, ph in stored.items():
                battery, on = key.split("|")
                physical[(battery, on == "1")] = ph
            prices = inputs.PriceSeries(
                meta["node"],
                np.array(arrays["price_c"]),
                np.array(arrays["synthetic"]),
                tuple(meta["files"]),
            )
        provenance = tuple(Provenance(*entry) for entry in meta["provenance"])
        return cls(physical, meta["flow_check"], meta["adjustments"], prices, provenance)


@dataclass(eq=False)
class _Grid:
    """The homes' places on the network and the linear power-flow model of it."""

    model: Any  # lab.core.flow.LinearFlow
    feeder_index: Ints  # each home's feeder
    feeder_rating_kva: Floats
    connection_of_home: Ints  # row of each home in the network's connections
    connections: int
    connection_of_other: Ints
    others_kw: Floats
    connection_transformer: Ints  # transformer index of each connection

    def net_kw(self, flows: storage.Flows) -> Floats:
        net = np.zeros((self.connections, flows.grid_import.shape[1]))
        net[self.connection_of_home] = (flows.grid_import - flows.grid_export) * 2.0
        if len(self.connection_of_other):
            net[self.connection_of_other] = self.others_kw
        return net


def _grid(community: Community, others_kw: Floats) -> _Grid:
    network = community.network
    transformers = {t.key: i for i, t in enumerate(network.transformers)}
    rating = {t.key: t.rating_kva for t in network.transformers}
    connections = {c.key: i for i, c in enumerate(network.connections)}
    feeder_transformer = {f.key: f.transformer for f in network.feeders}
    return _Grid(
        model=linear_flow.build(network),
        feeder_index=_places(community)[0],
        feeder_rating_kva=np.array([rating[f.transformer] for f in network.feeders]),
        connection_of_home=np.array([connections[h.key] for h in community.homes], dtype=np.int64),
        connections=len(network.connections),
        connection_of_other=np.array(
            [connections[o.key] for o in community.others], dtype=np.int64
        ),
        others_kw=others_kw,
        connection_transformer=np.array(
            [transformers[feeder_transformer[c.feeder]] for c in network.connections],
            dtype=np.int64,
        ),
    )


def _summarise(
    flows: storage.Flows, grid: _Grid, tv: tuple[Ints, Ints], points: int = 1000
) -> Physical:
    flows.check_balance()
    net = grid.net_kw(flows)
    feeders: FlowResults = grid.model.solve(net)
    loading: Floats = grid.model.transformer_loading_pct(net)
    transformers = loading.shape[0]
    t_kw = np.zeros((transformers, net.shape[1]))
    np.add.at(t_kw, grid.connection_transformer, net)
    ranks = np.unique(
        np.linspace(0, loading.shape[1] - 1, min(points, loading.shape[1])).astype(int)
    )
    load = flows.load + flows.ev
    return Physical(
        import_wh=np.ascontiguousarray(np.rint(flows.grid_import.T * 1000).astype(np.int64)),
        export_wh=np.ascontiguousarray(np.rint(flows.grid_export.T * 1000).astype(np.int64)),
        tv_import_units=tv[0],
        tv_credit_units=tv[1],
        home_pv=flows.pv.sum(axis=1),
        home_load=load.sum(axis=1),
        community=np.stack(
            [
                flows.pv.sum(axis=0),
                load.sum(axis=0),
                (flows.discharge - flows.charge).sum(axis=0),
                flows.grid_import.sum(axis=0),
                flows.grid_export.sum(axis=0),
                (flows.grid_import - flows.grid_export).sum(axis=0),
            ]
        ),
        transformer_kw=np.stack(
            [np.maximum(t_kw.max(axis=1), 0), np.maximum(-t_kw.min(axis=1), 0)], axis=1
        ),
        loading_curves=np.sort(loading, axis=1)[:, ::-1][:, ranks],
        hours_over=np.array([(loading > 80).sum() * 0.5, (loading > 100).sum() * 0.5]),
        min_voltage_pu=float(np.nanmin(feeders.v_min_customer_pu)),
    )


def time_value_prices(p: Prepared, flows: storage.Flows, grid: _Grid) -> tuple[Ints, Ints, float]:
    """Feeder import price and export credit per period (engine units) from a forecast's power
    flow, made revenue neutral over the span: the community pays the distributor what the
    static lines charges would have raised, only at different times. Returns the adjustment
    (c/kWh) too."""
    params = p.scenario.time_value
    f: FlowResults = grid.model.solve(grid.net_kw(flows))
    rating = grid.feeder_rating_kva[:, None]
    sig = formula.signal(
        f.loading_pct / 100.0,
        f.v_min_customer_pu,
        f.v_max_customer_pu,
        f.reverse_flow_kw / rating,
        params,
    )
    feeders = len(grid.feeder_rating_kva)
    # The static lines price of each feeder: the mean over its homes' tariffs, per period.
    lines = np.zeros((feeders, p.cal.periods))
    counts = np.bincount(grid.feeder_index, minlength=feeders)
    np.add.at(lines, grid.feeder_index, p.tariff.lines_units / 10_000.0)
    lines = lines / np.maximum(counts, 1)[:, None]
    imports = np.zeros((feeders, p.cal.periods))
    exports = np.zeros((feeders, p.cal.periods))
    np.add.at(imports, grid.feeder_index, flows.grid_import)
    np.add.at(exports, grid.feeder_index, flows.grid_export)
    rebate = np.zeros_like(lines)
    adjust = formula.revenue_neutral_adjustment(imports, exports, lines, sig, rebate, lines, params)
    price = formula.import_price(lines, sig, params, adjust)
    credit = formula.export_credit(sig, rebate, params.cap_c)
    return (
        np.rint(price * 10_000).astype(np.int64),
        np.rint(credit * 10_000).astype(np.int64),
        adjust,
    )


def _hem_prices(p: Prepared, grid: _Grid, tv: tuple[Ints, Ints] | None) -> tuple[Floats, Floats]:
    """What each home's energy manager plans against (c/kWh): its retail rate and buy-back, and
    with the time-value price on, the distributor's price in place of the static lines part."""
    buy = p.tariff.import_units / 10_000.0
    sell = np.broadcast_to(p.tariff.buyback_units[:, None] / 10_000.0, buy.shape).copy()
    if tv is not None:
        price, credit = tv
        buy = buy - p.tariff.lines_units / 10_000.0 + price[grid.feeder_index] / 10_000.0
        sell = sell + credit[grid.feeder_index] / 10_000.0
    return buy, sell


def simulate(
    p: Prepared, *, progress: Progress | None = None, hem_workers: int = 1, flow_samples: int = 24
) -> Simulation:
    """Move the power: every battery strategy the designs need, and the network under each."""
    report = progress or _quiet
    designs = p.scenario.designs
    homes = list(p.community.homes)
    grid = _grid(p.community, p.others_kw)
    strategies = {d.battery for d in designs}
    report("flows", 0, 1)
    physical: dict[tuple[str, bool], Physical] = {}
    adjustments: dict[str, float] = {}
    base = storage.no_battery(homes, p.load, p.pv, p.ev)
    flow_check = linear_flow.check(
        p.community.network,
        grid.model,
        grid.net_kw(base),
        samples=flow_samples,
        seed=p.scenario.seed,
    )
    sc_tv: tuple[Ints, Ints] | None = None
    for battery in ("none", "self_consumption"):
        if battery == "none" and "none" not in strategies:
            continue
        if battery == "self_consumption" and not strategies & {"self_consumption", "hem"}:
            continue
        flows = base if battery == "none" else storage.self_consumption(homes, p.load, p.pv, p.ev)
        # Time-value prices from the strategy's own flows: the distributor's (perfect) forecast.
        price, credit, adjustments[battery] = time_value_prices(p, flows, grid)
        ph = _summarise(flows, grid, (price, credit))
        physical[(battery, False)] = physical[(battery, True)] = ph
        if battery == "self_consumption":
            sc_tv = (price, credit)
        del flows
    report("flows", 1, 1)
    if "hem" in strategies and sc_tv is not None:
        for on in sorted({d.time_value for d in designs if d.battery == "hem"}):
            physical[("hem", on)] = _energy_managers(
                p, grid, homes, sc_tv if on else None, report, hem_workers
            )
    return Simulation(physical, flow_check, adjustments, p.prices, tuple(p.provenance))


def _energy_managers(
    p: Prepared,
    grid: _Grid,
    homes: list[HomeSpec],
    forecast: tuple[Ints, Ints] | None,
    report: Progress,
    hem_workers: int = 1,
) -> Physical:
    """Every home's energy manager over the span. With the time-value price on, they first
    plan against prices forecast from the self-consumption flows; then the price is worked out
    again from their plans and they plan again, damped (half old, half new) so the two do not
    chase each other: the live market's iteration (issue 12), `energy_manager.rounds` times.
    The prices settled are the last ones the managers planned against."""
    settings = p.scenario.energy_manager
    rounds = settings.rounds if forecast is not None else 1
    prices = forecast
    flows = None
    for round_ in range(rounds):
        stage = (
            f"energy manager, time-value price, round {round_ + 1} of {rounds}"
            if forecast is not None
            else "energy manager, flat network price"
        )

        def said(done: int, total: int, stage: str = stage) -> None:
            report(stage, done, total)

        buy, sell = _hem_prices(p, grid, prices)
        flows = storage.energy_manager(
            p.cal,
            homes,
            p.load,
            p.pv,
            p.sessions,
            buy,
            sell,
            horizon_days=settings.horizon_days,
            wear_c=settings.wear_c,
            progress=said,
            workers=hem_workers,
        )
        if prices is not None and round_ < rounds - 1:
            price, credit, _ = time_value_prices(p, flows, grid)
            prices = (
                np.rint((prices[0] + price) / 2).astype(np.int64),
                np.rint((prices[1] + credit) / 2).astype(np.int64),
            )
    assert flows is not None
    settled = prices if prices is not None else time_value_prices(p, flows, grid)[:2]
    return _summarise(flows, grid, settled)


def fees_of(scenario: Scenario) -> market.Fees:
    def units(c: Any) -> int:
        return int((c * 10_000).to_integral_value())

    f = scenario.fees
    return market.Fees(
        coop_fee_units=units(f.coop_fee_c),
        network_units=units(f.network_c),
        same_feeder_units=units(f.same_feeder_network_c),
        upstream_units=units(f.upstream_c),
    )


def margins(p: Prepared) -> tuple[Ints, Ints]:
    """Each home's own appetite, whole tenths of a cent, in engine units."""
    rng = np.random.default_rng(p.scenario.seed + 1)
    b, s = p.scenario.bidding.buyer_margin_c, p.scenario.bidding.seller_margin_c
    h = len(p.community.homes)
    buyer = np.rint(rng.uniform(b.low, b.high, h) * 10) * 1_000
    seller = np.rint(rng.uniform(s.low, s.high, h) * 10) * 1_000
    return buyer.astype(np.int64), seller.astype(np.int64)


def clear(
    p: Prepared,
    sim: Simulation,
    periods: range | None = None,
    progress: Progress | None = None,
) -> dict[Design, market.Tally]:
    """Move the money: every design cleared and settled over `periods` (all by default)."""
    report = progress or _quiet
    periods = periods if periods is not None else range(p.cal.periods)
    grid_feeder, grid_transformer = _places(p.community)
    hardship = np.array([h.hardship for h in p.community.homes], dtype=bool)
    fees = fees_of(p.scenario)
    buyer, seller = margins(p)
    tallies = {}
    designs = p.scenario.designs
    for i, design in enumerate(designs):
        report("market", i, len(designs))
        ph = sim.physical[(design.battery, design.time_value)]
        network = market.Network(
            grid_feeder, grid_transformer, ph.tv_import_units, ph.tv_credit_units, hardship
        )
        terms = market.Terms(p.tariff, network, fees, buyer, seller)
        tallies[design] = market.run_design(
            design, periods, p.month_index, ph.import_wh, ph.export_wh, terms, len(p.months)
        )
    report("market", len(designs), len(designs))
    return tallies


def _places(community: Community) -> tuple[Ints, Ints]:
    """Each home's feeder and transformer, as rows of the network's feeders and transformers."""
    feeders = {f.key: i for i, f in enumerate(community.network.feeders)}
    transformers = {t.key: i for i, t in enumerate(community.network.transformers)}
    return (
        np.array([feeders[h.feeder] for h in community.homes], dtype=np.int64),
        np.array([transformers[h.transformer] for h in community.homes], dtype=np.int64),
    )


def run(
    p: Prepared,
    *,
    progress: Progress | None = None,
    hem_workers: int = 1,
    flow_samples: int = 24,
) -> Results:
    """The whole backtest in this process."""
    started = time.perf_counter()
    sim = simulate(p, progress=progress, hem_workers=hem_workers, flow_samples=flow_samples)
    tallies = clear(p, sim, progress=progress)
    return results(p, sim, tallies, seconds=time.perf_counter() - started)


def _nzd(micro: float) -> float:
    return round(float(micro) / 1e6, 2)


def results(
    p: Prepared, sim: Simulation, tallies: dict[Design, market.Tally], seconds: float = 0.0
) -> Results:
    """The report's frames from the summed tallies. Refuses an incomplete set: a chunk that
    failed must not turn into a report that looks whole."""
    for design, tally in tallies.items():
        if tally.periods_balanced != p.cal.periods:
            raise market.UnbalancedPeriod(
                f"{design.key}: {tally.periods_balanced} of {p.cal.periods} periods settled"
            )
    homes = p.community.homes
    daily = p.tariff.daily_micro * p.cal.days
    kinds = np.array([h.kind for h in homes])
    hardship = np.array([h.hardship for h in homes], dtype=bool)
    month_daily = _daily_by_month(p)
    rows, member_rows, month_rows, clearing_rows = [], [], [], []
    for design, tally in tallies.items():
        ph = sim.physical[(design.battery, design.time_value)]
        baseline = tallies[design.baseline]
        bills = daily - tally.amount  # micro-NZD per home, positive: paid
        base_bills = daily - baseline.amount
        saving = base_bills - bills
        exchange = ph.community[5]
        drawn, sent = float(np.maximum(exchange, 0).sum()), float(np.maximum(-exchange, 0).sum())
        load, pv = float(ph.home_load.sum()), float(ph.home_pv.sum())
        by_kind = {
            k: (_nzd(saving[kinds == k].mean()) if (kinds == k).any() else math.nan)
            for k in ("neither", "pv", "pv_battery", "battery")
        }
        rows.append(
            {
                "design": design.key,
                "label": design.label,
                "mechanism": design.mechanism,
                "battery": design.battery,
                "time_value": design.time_value,
                "homes": len(homes),
                "periods": p.cal.periods,
                "pv_kwh": round(pv, 1),
                "load_kwh": round(load, 1),
                "import_kwh": round(tally.import_wh.sum() / 1000, 1),
                "export_kwh": round(tally.export_wh.sum() / 1000, 1),
                "p2p_kwh": round(tally.bought_wh.sum() / 1000, 1),
                "self_sufficiency_pct": round(100 - kpis.percent(drawn, load), 2),
                "self_consumption_pct": round(100 - kpis.percent(sent, pv), 2) if pv else math.nan,
                "bills_nzd": _nzd(bills.sum()),
                "saving_nzd": _nzd(saving.sum()),
                "saving_pct": round(kpis.percent(saving.sum(), base_bills.sum()), 2),
                "saving_neither_nzd": by_kind["neither"],
                "saving_pv_nzd": by_kind["pv"],
                "saving_pv_battery_nzd": by_kind["pv_battery"],
                "saving_battery_nzd": by_kind["battery"],
                "saving_hardship_nzd": _nzd(saving[hardship].mean())
                if hardship.any()
                else math.nan,
                "gift_kwh": round(tally.gift_wh.sum() / 1000, 1),
                "gini_savings": round(kpis.gini(saving), 4),
                "coop_fee_nzd": _nzd(tally.coop_micro),
                "network_revenue_nzd": _nzd(tally.network_micro + tally.lines_micro),
                "peak_import_kw": round(float(ph.transformer_kw[:, 0].max()), 1),
                "peak_export_kw": round(float(ph.transformer_kw[:, 1].max()), 1),
                "hours_over_80_pct": float(ph.hours_over[0]),
                "hours_over_100_pct": float(ph.hours_over[1]),
                "min_voltage_pu": round(ph.min_voltage_pu, 4),
                "emissions_t": round(drawn * NZ_GRID_2024.kg_per_kwh / 1000, 2),
                "periods_balanced": tally.periods_balanced,
            }
        )
        for i, home in enumerate(homes):
            member_rows.append(
                {
                    "design": design.key,
                    "home": home.key,
                    "kind": home.kind,
                    "has_ev": home.has_ev,
                    "hardship": home.hardship,
                    "pv_kwh": round(float(ph.home_pv[i]), 2),
                    "load_kwh": round(float(ph.home_load[i]), 2),
                    "import_kwh": tally.import_wh[i] / 1000,
                    "export_kwh": tally.export_wh[i] / 1000,
                    "bought_kwh": tally.bought_wh[i] / 1000,
                    "sold_kwh": tally.sold_wh[i] / 1000,
                    "bill_nzd": _nzd(bills[i]),
                    "saving_nzd": _nzd(saving[i]),
                }
            )
        for m, month in enumerate(p.months):
            bill = month_daily[m] - tally.month_amount[m]
            base = month_daily[m] - baseline.month_amount[m]
            month_rows.append(
                {
                    "design": design.key,
                    "month": month,
                    "bill_nzd": _nzd(bill),
                    "saving_nzd": _nzd(base - bill),
                }
            )
        traded = np.flatnonzero(tally.p2p_wh)
        clearing_rows.append(
            pd.DataFrame(
                {
                    "design": design.key,
                    "period": traded,
                    # micro-NZD per Wh is 0.1 c/kWh.
                    "price_c": np.round(0.1 * tally.p2p_value[traded] / tally.p2p_wh[traded], 4),
                }
            )
        )
    scenario = p.scenario
    designs = tuple(tallies)
    return Results(
        name=scenario.name,
        scenario=dict(scenario.raw),
        seed=scenario.seed,
        designs=designs,
        # The summary's columns are kpis.SUMMARY_COLUMNS, in that order, after the design's.
        summary=pd.DataFrame(rows)[[*DESIGN_COLUMNS, *kpis.SUMMARY_COLUMNS]],
        members=pd.DataFrame(member_rows),
        monthly=pd.DataFrame(month_rows),
        days=_typical_days(p, sim, tallies),
        prices=pd.DataFrame(
            {
                "start_utc": pd.to_datetime(p.cal.starts_utc).tz_localize("UTC"),
                "local_date": p.cal.local_date.astype(str),
                "trading_period": p.cal.trading_period,
                "wholesale_c": sim.prices.price_c,
                "synthetic": sim.prices.synthetic,
            }
        ),
        clearing=pd.concat(clearing_rows, ignore_index=True)
        if clearing_rows
        else pd.DataFrame(columns=["design", "period", "price_c"]),
        loading=_duration_curves(p, sim, designs),
        provenance=(
            *sim.provenance,
            Provenance(
                "time-value network price",
                "the co-op's formula (trading.timevalue.formula) on the linearised power flow",
                "revenue-neutral adjustment "
                + ", ".join(f"{k}: {v:+.2f} c/kWh" for k, v in sim.adjustments.items()),
            ),
        ),
        emission_factor=NZ_GRID_2024,
        flow_check=sim.flow_check,
        seconds=round(seconds, 2),
    )


def _daily_by_month(p: Prepared) -> Ints:
    day_months = p.month_index[p.cal.day_starts()[:-1]]
    days_per_month = np.bincount(day_months, minlength=len(p.months))
    return days_per_month * int(p.tariff.daily_micro.sum())


def _typical_days(
    p: Prepared, sim: Simulation, tallies: dict[Design, market.Tally]
) -> pd.DataFrame:
    """The community's day closest to its season's median daily load, for winter and summer."""
    starts = p.cal.day_starts()
    day_month = p.cal.month[starts[:-1]]
    any_strategy = next(iter(sim.physical.values()))
    daily_load = np.add.reduceat(any_strategy.community[1], starts[:-1])
    frames = []
    for season, months in SEASONS.items():
        candidates = np.flatnonzero(np.isin(day_month, months))
        if len(candidates) == 0:
            continue
        median = np.median(daily_load[candidates])
        day = int(candidates[np.argmin(np.abs(daily_load[candidates] - median))])
        t = np.arange(int(starts[day]), int(starts[day + 1]))
        for design, tally in tallies.items():
            c = sim.physical[(design.battery, design.time_value)].community
            frames.append(
                pd.DataFrame(
                    {
                        "design": design.key,
                        "season": season,
                        "date": p.cal.local_date[t].astype(str),
                        "slot": p.cal.slot[t],
                        "pv_kwh": np.round(c[0, t], 3),
                        "load_kwh": np.round(c[1, t], 3),
                        "battery_kwh": np.round(c[2, t], 3),
                        "grid_import_kwh": np.round(c[3, t], 3),
                        "grid_export_kwh": np.round(c[4, t], 3),
                        "p2p_kwh": tally.p2p_wh[t] / 1000,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _duration_curves(p: Prepared, sim: Simulation, designs: Sequence[Design]) -> pd.DataFrame:
    keys = [t.key for t in p.community.network.transformers]
    frames = []
    for design in designs:
        curves = sim.physical[(design.battery, design.time_value)].loading_curves
        for i, key in enumerate(keys):
            frames.append(
                pd.DataFrame(
                    {
                        "design": design.key,
                        "transformer": key,
                        "rank": np.arange(curves.shape[1]),
                        "loading_pct": np.round(curves[i], 2),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)
