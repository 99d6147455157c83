"""Synthetic NZ suburban LV networks and household loads, deterministic for a seed: for
benchmarks, demos and tests of the time-value pricing when no real network is at hand."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from trading.timevalue.grid import (
    ConnectionSpec,
    FeederSpec,
    Network,
    SegmentSpec,
    TransformerSpec,
)

RATINGS_KVA = (200, 300)
MAINS_CABLES = ("NAYY 4x150 SE", "94-AL1/15-ST1A 0.4")  # underground, overhead
SERVICE_CABLE = "NAYY 4x50 SE"
PERIODS_PER_DAY = 48
PV_SHARE = 0.35  # of homes with rooftop PV


def _split(total: int, parts: int) -> list[int]:
    """`total` as `parts` whole numbers differing by at most one, larger first."""
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def generated_network(icps: int, transformers: int, seed: int = 1) -> Network:
    """A plausible suburban LV network: `transformers` 200 or 300 kVA 11/0.415 kV transformers
    with 2-4 radial feeders each, each feeder 3-8 segments of 30-80 m (all underground
    NAYY 4x150 or all overhead 94 mm² ACSR, now and then branching), and `icps` connections
    spread evenly over the transformers, their feeders and along the segments, each on a
    10-30 m NAYY 4x50 service cable. Keys: T01, T01F1, T01F1S1, ICP0001."""
    if icps < 0:
        raise ValueError(f"icps must be >= 0, not {icps}")
    if transformers < 1:
        raise ValueError(f"transformers must be >= 1, not {transformers}")
    rng = np.random.default_rng(seed)
    width = max(2, len(str(transformers)))
    trafos: list[TransformerSpec] = []
    feeders: list[FeederSpec] = []
    segments: list[SegmentSpec] = []
    connections: list[ConnectionSpec] = []
    for t, icps_here in enumerate(_split(icps, transformers)):
        t_key = f"T{t + 1:0{width}d}"
        trafos.append(TransformerSpec(key=t_key, rating_kva=float(rng.choice(RATINGS_KVA))))
        n_feeders = int(rng.integers(2, 5))
        for f, icps_on_feeder in enumerate(_split(icps_here, n_feeders)):
            f_key = f"{t_key}F{f + 1}"
            feeders.append(FeederSpec(key=f_key, transformer=t_key))
            cable = str(rng.choice(MAINS_CABLES))
            n_segments = int(rng.integers(3, 9))
            keys = [f"{f_key}S{s + 1}" for s in range(n_segments)]
            for s, key in enumerate(keys):
                if s == 0:
                    upstream = None
                elif s == 1 or rng.random() < 0.75:
                    upstream = keys[s - 1]  # on along the street
                else:
                    upstream = keys[int(rng.integers(0, s - 1))]  # a side street
                segments.append(
                    SegmentSpec(
                        key=key,
                        feeder=f_key,
                        upstream=upstream,
                        length_m=float(rng.integers(30, 81)),
                        cable_type=cable,
                    )
                )
            for s, icps_on_segment in enumerate(_split(icps_on_feeder, n_segments)):
                for _ in range(icps_on_segment):
                    connections.append(
                        ConnectionSpec(
                            key=f"ICP{len(connections) + 1:04d}",
                            feeder=f_key,
                            segment=keys[s],
                            service_length_m=float(rng.integers(10, 31)),
                            service_cable_type=SERVICE_CABLE,
                        )
                    )
    return Network(
        transformers=tuple(trafos),
        feeders=tuple(feeders),
        segments=tuple(segments),
        connections=tuple(connections),
    )


def _bump(hour: npt.NDArray[np.float64], centre: float, width: float) -> npt.NDArray[np.float64]:
    """A Gaussian bump in the hour of day, wrapping round midnight."""
    distance = (hour - centre + 12) % 24 - 12
    return np.exp(-0.5 * (distance / width) ** 2)


def generated_loads(network: Network, periods: int, seed: int = 1) -> npt.NDArray[np.float64]:
    """Net import in kW, shaped (len(network.connections), periods), periods being half hours
    from midnight: a household's day of about 0.5 kW overnight, a morning rise, about 2 kW at
    the evening peak (about 18:30), each home scaled and shifted a little, with noise. About a
    third of the homes have 3-4 kW of rooftop PV and export 2-3 kW around midday, less on a
    cloudy day."""
    if periods < 0:
        raise ValueError(f"periods must be >= 0, not {periods}")
    rng = np.random.default_rng(seed)
    n = len(network.connections)
    # Half-hour midpoints, each home's clock shifted by up to ±40 minutes.
    hour = (np.arange(periods) + 0.5) / 2
    shift = rng.uniform(-2 / 3, 2 / 3, (n, 1))
    local = (hour[None, :] + shift) % 24
    demand = (
        0.45
        + 0.75 * _bump(local, 7.5, 1.0)  # breakfast
        + 0.25 * _bump(local, 13.0, 3.0)  # daytime
        + 1.55 * _bump(local, 18.6, 1.5)  # dinner
    )
    scale = rng.lognormal(0.0, 0.2, (n, 1))
    noise = rng.lognormal(0.0, 0.15, (n, periods))
    demand = demand * scale * noise

    has_pv = rng.random((n, 1)) < PV_SHARE
    capacity_kw = rng.uniform(3.0, 4.0, (n, 1)) * has_pv
    # Sun from 06:00 to 20:00, peaking at 13:00 (NZDT solar noon); one sky per day for everyone.
    sun = np.clip(np.sin(np.pi * (hour - 6.0) / 14.0), 0.0, None) ** 1.2
    day = (np.arange(periods) // PERIODS_PER_DAY).astype(int)
    sky = rng.uniform(0.7, 1.0, int(day.max()) + 1 if periods else 0)[day]
    passing_cloud = rng.uniform(0.85, 1.0, (n, periods))
    pv_kw = capacity_kw * sun[None, :] * sky[None, :] * passing_cloud
    return np.round(demand - pv_kw, 3)
