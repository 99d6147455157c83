"""A research community: its homes, their equipment and tariff, and where each sits on the LV
network. Pure data (no Django): a scenario generates one, or the co-op's own members are read
into one (lab.members)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from coop.tariffs import TariffSpec
from trading.timevalue.grid import Network
from trading.timevalue.synthetic import generated_network

if TYPE_CHECKING:
    from lab.core.scenario import CommunitySettings, Range

# Household types, for the fairness question (who gains): by what the home owns.
KINDS = ("neither", "pv", "pv_battery", "battery")


@dataclass(frozen=True)
class HomeSpec:
    """One home. Sizes in kW, kWh and kWp; hours in NZ local time."""

    key: str  # unique in the community, e.g. "home-0007" or an ICP identifier
    latitude: float
    longitude: float
    annual_load_kwh: float  # household load over a year, the EV excluded
    tariff: str  # a key of the scenario's tariffs
    feeder: str  # a FeederSpec key of the community's network
    transformer: str  # that feeder's transformer key
    pv_kwp: float = 0.0
    pv_tilt: float = 25.0
    pv_azimuth: float = 0.0  # degrees from north, clockwise (0: north-facing, as in NZ)
    inverter_kw: float = 5.0
    battery_kwh: float = 0.0
    battery_kw: float = 0.0
    battery_round_trip: float = 0.9
    battery_reserve: float = 0.1  # fraction of battery_kwh kept back
    ev_kwh_per_day: float = 0.0  # driving energy replaced at home each day; 0: no EV
    ev_charger_kw: float = 7.4
    ev_plug_in_hour: float = 18.0
    ev_depart_hour: float = 7.5
    seed: int = 0  # for this home's own noise (load size and half-hour variation)
    hardship: bool = False  # receives from the hardship pool in the gift designs

    @property
    def kind(self) -> str:
        if self.pv_kwp > 0:
            return "pv_battery" if self.battery_kwh > 0 else "pv"
        return "battery" if self.battery_kwh > 0 else "neither"

    @property
    def has_ev(self) -> bool:
        return self.ev_kwh_per_day > 0


@dataclass(frozen=True)
class OtherCustomers:
    """The customers on a transformer who are not members, as one connection: they load the
    network (their houses and rooftop PV) but are not in the market and own no battery."""

    key: str  # the connection key in the community's network
    feeder: str
    transformer: str
    customers: int
    pv_kwp: float
    latitude: float
    longitude: float
    seed: int = 0

    def houses(self, annual_load_kwh: float) -> tuple[HomeSpec, ...]:
        """One typical house per customer, each with its own noise: summed, they have the
        diversity of many houses (one house's noise scaled up would not)."""
        return tuple(
            HomeSpec(
                key=f"{self.key}-{i}",
                latitude=self.latitude,
                longitude=self.longitude,
                annual_load_kwh=annual_load_kwh,
                tariff="",
                feeder=self.feeder,
                transformer=self.transformer,
                seed=self.seed * 10_007 + i,
            )
            for i in range(self.customers)
        )

    def panels(self) -> HomeSpec:
        """Their rooftop PV as one north-facing array, with no inverter limit to speak of."""
        return HomeSpec(
            key=f"{self.key}-pv",
            latitude=self.latitude,
            longitude=self.longitude,
            annual_load_kwh=0.0,
            tariff="",
            feeder=self.feeder,
            transformer=self.transformer,
            pv_kwp=self.pv_kwp,
            inverter_kw=max(self.pv_kwp, 1.0),
        )


@dataclass(frozen=True)
class Community:
    name: str
    homes: tuple[HomeSpec, ...]
    network: Network  # connections keyed by HomeSpec.key (plus any non-member aggregates)
    node: str  # the grid exit point whose wholesale prices apply, e.g. PEN0331
    latitude: float
    longitude: float
    # Non-member customers on the same transformers, one aggregate per connection key: they
    # load the network (load and PV, no trading, no battery) but are not in the market.
    others: tuple[OtherCustomers, ...] = ()
    # The members' own tariffs (the co-op's records), added to the scenario's.
    tariffs: tuple[tuple[str, TariffSpec], ...] = ()


def generate(settings: CommunitySettings, tariff_keys: Sequence[str], seed: int) -> Community:
    """`settings.homes` homes with the scenario's equipment mix, spread over a generated LV
    network. The shares are exact (rounded) rather than each home's own coin toss, so a
    50-home community with a 0.25 battery share has 12 or 13 batteries, not anywhere from 5 to
    20: studies that sweep a share must see the share they asked for."""
    rng = np.random.default_rng(seed)
    n = settings.homes
    network = generated_network(n, settings.transformers, seed=seed)
    mix, sizes = settings.mix, settings.sizes

    def chosen(share: float, among: np.ndarray | None = None) -> np.ndarray:
        pool = np.arange(n) if among is None else among
        return rng.permutation(pool)[: round(share * n)] if share else np.zeros(0, np.int64)

    pv = set(chosen(mix.pv).tolist())
    # Batteries go to PV homes first (that is who buys them), then to homes without.
    pv_first = np.array(
        sorted(pv, key=lambda _: rng.random())
        + [i for i in rng.permutation(n).tolist() if i not in pv],
        dtype=np.int64,
    )
    battery = set(pv_first[: round(mix.battery * n)].tolist())
    ev = set(chosen(mix.ev).tolist())
    shares = [(key, share) for key, share in settings.tariff_shares if key in tariff_keys] or [
        (tariff_keys[0], 1.0)
    ]
    counts = np.floor(np.array([s for _, s in shares]) * n).astype(int)
    counts[0] += n - counts.sum()
    tariffs = rng.permutation(np.repeat([k for k, _ in shares], counts)).tolist()

    def draw(r: Range, step: float) -> float:
        return float(round(rng.uniform(r.low, r.high) / step) * step) if r.high > r.low else r.low

    # Hardship recipients among the homes with neither PV nor a battery (who they are, in life).
    neither = [i for i in rng.permutation(n).tolist() if i not in pv and i not in battery]
    hardship = set(neither[: round(settings.hardship_share * n)])
    feeder_of = {c.key: c.feeder for c in network.connections}
    transformer_of = {f.key: f.transformer for f in network.feeders}
    homes = []
    for i, connection in enumerate(network.connections):
        has_battery = i in battery
        homes.append(
            HomeSpec(
                key=connection.key,
                latitude=settings.latitude + rng.uniform(-0.004, 0.004),
                longitude=settings.longitude + rng.uniform(-0.004, 0.004),
                annual_load_kwh=draw(sizes.annual_load_kwh, 10.0),
                tariff=tariffs[i],
                feeder=feeder_of[connection.key],
                transformer=transformer_of[feeder_of[connection.key]],
                pv_kwp=draw(sizes.pv_kwp, 0.1) if i in pv else 0.0,
                pv_tilt=float(rng.choice([15.0, 20.0, 25.0, 30.0])),
                pv_azimuth=float(rng.choice([-45.0, 0.0, 0.0, 0.0, 45.0, 90.0])) % 360,
                inverter_kw=5.0,
                battery_kwh=draw(sizes.battery_kwh, 0.5) if has_battery else 0.0,
                battery_kw=draw(sizes.battery_kw, 0.1) if has_battery else 0.0,
                ev_kwh_per_day=draw(sizes.ev_kwh_per_day, 0.5) if i in ev else 0.0,
                ev_plug_in_hour=float(rng.choice([17.0, 17.5, 18.0, 18.5, 19.0])),
                ev_depart_hour=float(rng.choice([7.0, 7.5, 8.0])),
                seed=seed * 100_003 + i,
                hardship=i in hardship,
            )
        )
    return Community(
        name=f"{n} generated homes",
        homes=tuple(homes),
        network=network,
        node=settings.node,
        latitude=settings.latitude,
        longitude=settings.longitude,
    )
