"""The research lab's real-data inputs: wholesale prices, cloudiness, rooftop PV and household load.

Each loader turns public NZ data into arrays over a Calendar's trading periods, and says where
every number came from (Provenance), so a report can show which days are real and which are
synthetic stand-ins. Bad or missing input is an InputError naming the file and line (or the
scenario key) and what to change: a study must not quietly run on the wrong node or a gap.

- Prices: EMI FinalEnergyPrices files (trading.prices.archive), daily or monthly, current or
  legacy format; gaps filled from trading.prices.synthetic only when the scenario allows it.
- Cloudiness: EMI Generation_MD half-hourly output of grid-scale solar farms (2025), as each
  day's output over what the farm would have made under a clear sky.
- PV: that day's cloudiness applied to pvlib's clear-sky GHI at each home, split into beam
  and diffuse light (Erbs) and carried onto the home's panel plane (Hay-Davies).
- Load: the GREEN Grid study's mean household day by season (Anderson et al. 2018), scaled to
  each home's annual energy, with per-home variation drawn from hashes of (seed, period), so a
  home's load in a half hour is the same whatever span is asked for.

Pure: numpy, pandas and pvlib; no Django.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pvlib

from lab.core.calendar import Calendar, calendar
from lab.core.community import HomeSpec
from lab.core.results import Provenance
from metering.household_model import SUMMER_W, WINTER_W
from trading.prices.archive import ArchiveError, parse
from trading.prices.points import PricePoint
from trading.prices.synthetic import price_at

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

EMI_CREDIT = "Source: Electricity Authority (New Zealand), EMI datasets (CC BY 4.0)"


class InputError(ValueError):
    """An input file or setting the lab cannot use: where it is, and what is wrong with it."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")


def _read_text(path: Path, key: str) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(str(path), f"no such file: check {key}") from exc
    except OSError as exc:
        raise InputError(str(path), f"cannot be read ({exc.strerror}): check {key}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            str(path), f"is not UTF-8 text (byte {exc.start} is not): is it a CSV file?"
        ) from exc


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _compact_dates(days: Iterable[dt.date], most: int = 8) -> str:
    """Consecutive days as ranges ("2026-05-10..2026-05-15, 2026-06-01"), the first `most`."""
    runs: list[list[dt.date]] = []
    for day in sorted(days):
        if runs and (day - runs[-1][1]).days == 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    shown = [f"{a}" if a == b else f"{a}..{b}" for a, b in runs[:most]]
    more = f" and {len(runs) - most} more" if len(runs) > most else ""
    return ", ".join(shown) + more


def _calendar_index(cal: Calendar) -> dict[tuple[dt.date, int], int]:
    dates: list[dt.date] = cal.local_date.tolist()
    return {
        (d, p): i for i, (d, p) in enumerate(zip(dates, cal.trading_period.tolist(), strict=True))
    }


def _period_starts(cal: Calendar, mask: BoolArray) -> list[dt.datetime]:
    naive: list[dt.datetime] = cal.starts_utc[mask].astype("datetime64[s]").tolist()
    return [s.replace(tzinfo=dt.UTC) for s in naive]


# --- Wholesale prices ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PriceSeries:
    node: str
    price_c: FloatArray  # (T,) c/kWh excluding GST: $/MWh / 10
    synthetic: BoolArray  # (T,) True where no price file covered the period
    files: tuple[str, ...]


_LINE = re.compile(r"^line (\d+): ")


def node_prices(text: str, node: str, where: str) -> tuple[list[str], list[PricePoint]]:
    """One node's rows of an EMI FinalEnergyPrices file: the header and those lines, and their
    prices. Only lines naming the node are parsed (a monthly all-node file has ~350,000 rows,
    a node ~1,500), and the parse still validates every line it keeps; an error names `where`
    and the line's number in the whole file."""
    lines = text.splitlines()
    numbers = [n for n, line in enumerate(lines[1:], start=2) if node in line]
    kept = [lines[0] if lines else "", *(lines[n - 1] for n in numbers)]
    try:
        points = parse(kept)
    except ArchiveError as exc:
        raise _located(exc, numbers, where) from exc
    return kept, [p for p in points if p.node == node]


def _located(exc: ArchiveError, numbers: list[int], where: str) -> InputError:
    """The archive's errors with their line numbers in the unfiltered file."""
    found: list[tuple[int, str]] = []
    for error in exc.errors:
        match = _LINE.match(error)
        if match is None:
            found.append((1, error))
            continue
        kept = int(match[1])
        found.append((1 if kept == 1 else numbers[kept - 2], error[match.end() :]))
    (first, message), rest = found[0], found[1:]
    if rest:
        message += "; also " + "; ".join(f"line {n}: {m}" for n, m in rest[:4])
        if len(rest) > 4:
            message += f" (and {len(rest) - 4} more)"
    return InputError(f"{where} line {first}", message)


def file_nodes(text: str) -> list[str]:
    """The nodes an EMI price file has prices for (for saying which it has, when not ours)."""
    nodes = set()
    for line in text.splitlines()[1:]:
        fields = line.split(",")
        if len(fields) == 4:
            nodes.add(fields[2].strip().strip('"'))
    return sorted(nodes)


def other_nodes_message(text: str, node: str) -> str:
    nodes = file_nodes(text)
    if not nodes:
        return "has no prices (only a header)"
    listed = ", ".join(nodes[:6]) + (f", ... ({len(nodes)} in all)" if len(nodes) > 6 else "")
    return f"has prices for nodes {listed}, not {node}"


def wholesale_prices(
    cal: Calendar, node: str, files: Sequence[Path], *, allow_synthetic: bool, seed: int = 7
) -> tuple[PriceSeries, list[Provenance]]:
    """The node's final price in every period of the calendar, from EMI price files; periods
    no file covers come from the synthetic feed if allowed, else an InputError lists them."""
    index = _calendar_index(cal)
    price = np.full(cal.periods, np.nan)
    origin = np.full(cal.periods, -1)
    unused: list[str] = []
    for k, path in enumerate(files):
        name = str(path)
        text = _read_text(path, "data.price_files")
        _, points = node_prices(text, node, name)
        if not points:
            raise InputError(
                name, other_nodes_message(text, node) + ": choose community.node or other files"
            )
        used = 0
        for p in points:
            i = index.get((p.trading_date, p.trading_period))
            if i is None:
                continue
            value = float(p.dollars_per_mwh) / 10
            if origin[i] >= 0 and price[i] != value:
                other = "earlier in this file" if origin[i] == k else f"in {files[origin[i]]}"
                raise InputError(
                    name,
                    f"{p.trading_date} trading period {p.trading_period} is "
                    f"{p.dollars_per_mwh} $/MWh here but {price[i] * 10:g} $/MWh {other}: "
                    "keep one of the two",
                )
            price[i], origin[i] = value, k
            used += 1
        if not used:
            unused.append(path.name)
    missing = np.isnan(price)
    missing_days: list[dt.date] = sorted(set(cal.local_date[missing].tolist()))
    if missing.any() and not allow_synthetic:
        raise InputError(
            "data.price_files",
            f"no price at {node} for {_days(len(missing_days))}: {_compact_dates(missing_days)}; "
            "add price files or set data.synthetic_prices: true",
        )
    for gap, start in zip(np.flatnonzero(missing), _period_starts(cal, missing), strict=True):
        price[gap] = float(price_at(node, start, seed)) / 10
    provenance = []
    if files:
        names = ", ".join(Path(f).name for f in files)
        provenance.append(
            Provenance(
                "wholesale prices",
                f"EMI FinalEnergyPrices, {node}, {cal.days - len(missing_days)} of "
                f"{_days(cal.days)} from {len(files)} file{'s' * (len(files) > 1)} ({names})",
                EMI_CREDIT
                + "; $/MWh / 10 = c/kWh excl. GST"
                + (f"; no prices in the span: {', '.join(unused)}" if unused else ""),
            )
        )
    if missing.any():
        provenance.append(
            Provenance(
                "wholesale prices",
                f"synthetic (trading.prices.synthetic, seed {seed}), {int(missing.sum())} periods",
                f"{_days(len(missing_days))} without a price file: {_compact_dates(missing_days)}",
            )
        )
    series = PriceSeries(node, price, missing, tuple(str(f) for f in files))
    return series, provenance


# --- Sunlight: clear sky, cloudiness, planes -------------------------------------------


@dataclass(frozen=True, eq=False)
class _Sky:
    """The sun and the clear sky at one place, at a calendar's period mid-points."""

    zenith: FloatArray
    apparent_zenith: FloatArray
    azimuth: FloatArray
    clear_ghi: FloatArray  # W/m2, pvlib Ineichen with the climatological Linke turbidity
    day_of_year: FloatArray
    dni_extra: FloatArray


def _sky(cal: Calendar, latitude: float, longitude: float) -> _Sky:
    mid = pd.DatetimeIndex(cal.starts_utc + np.timedelta64(15, "m")).tz_localize("UTC")
    site = pvlib.location.Location(latitude, longitude)
    sun = site.get_solarposition(mid)
    clear = site.get_clearsky(mid, model="ineichen", solar_position=sun)
    return _Sky(
        zenith=sun["zenith"].to_numpy(),
        apparent_zenith=sun["apparent_zenith"].to_numpy(),
        azimuth=sun["azimuth"].to_numpy(),
        clear_ghi=clear["ghi"].to_numpy(),
        day_of_year=mid.day_of_year.to_numpy(dtype=float),
        dni_extra=pvlib.irradiance.get_extra_radiation(mid).to_numpy(),
    )


def _light(sky: _Sky, clearness: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """GHI, DNI and DHI when GHI is `clearness` times the clear sky's: the Erbs model splits
    it, so a cloudy day's light is mostly diffuse and a clear day's mostly beam. That is what
    carries a tracker's cloudiness to a fixed roof: scaling clear-sky plane irradiance instead
    would give cloudy days a clear day's beam geometry, under-counting a roof on a day a
    tracker lost most of its beam advantage, and over-counting a tilted panel's winter gain."""
    ghi = clearness * sky.clear_ghi
    split = pvlib.irradiance.erbs(ghi, sky.zenith, sky.day_of_year)
    return ghi, np.nan_to_num(np.asarray(split["dni"])), np.nan_to_num(np.asarray(split["dhi"]))


def _plane(
    sky: _Sky,
    light: tuple[FloatArray, FloatArray, FloatArray],
    tilt: float | FloatArray,
    azimuth: float | FloatArray,
) -> FloatArray:
    """Irradiance on a plane (W/m2), Hay-Davies sky diffuse; azimuth from north, clockwise."""
    ghi, dni, dhi = light
    poa = pvlib.irradiance.get_total_irradiance(
        tilt,
        azimuth,
        sky.apparent_zenith,
        sky.azimuth,
        dni,
        ghi,
        dhi,
        dni_extra=sky.dni_extra,
        model="haydavies",
    )["poa_global"]
    return np.nan_to_num(np.asarray(poa, dtype=float))


# --- Cloudiness from solar-farm output ----------------------------------------------------


@dataclass(frozen=True)
class SolarFarm:
    poc: str
    name: str
    region: str
    latitude: float
    longitude: float


# The grid-scale farms in the EMI Generation_MD file, located from their public descriptions
# (to ~0.05 degrees, plenty for sun angles and for choosing the nearest one): Kohira on Gill
# Rd about 3 km north-west of Kaitaia; Rangitaiki a few km from Edgecumbe; Lauriston on the
# Canterbury Plains near Lauriston (Wikipedia: 43.731 S, 171.789 E).
FARMS = (
    SolarFarm("KOE1101", "Kohira", "Northland", -35.09, 173.24),
    SolarFarm("EDG0331", "Rangitaiki", "Bay of Plenty", -37.98, 176.83),
    SolarFarm("ASB0661", "Lauriston", "Canterbury", -43.73, 171.79),
)
# Kohira and Rangitaiki are on single-axis trackers (Lodestone), and Lauriston's clear days
# have the same broad, flat-topped shape, so a farm is modelled as a north-south tracker
# (backtracking, +-60 degrees) whose output is its capacity times the irradiance on its
# panels, clipped at its export limit (the flat top of its clear days).
TRACKER_MAX_ANGLE = 60.0
TRACKER_GCR = 0.35
CLEAR_DAY_PERCENTILE = 95.0
MAX_CLEARNESS = 1.1
# Synthetic days: Beta(2.9, 1.1), mean 0.73 and spread 0.2, like the farms' 2025 days
# (Rangitaiki 0.72, Kohira 0.74, Lauriston 0.75 from July; spread 0.21 at each).
SYNTHETIC_BETA = (2.9, 1.1)
BISECTIONS = 30


@dataclass(frozen=True, eq=False)
class Clearness:
    # (T,) each period's day's GHI over the clear-sky GHI, 0..1.1 (a "clear-sky index")
    factor: FloatArray
    synthetic: BoolArray  # (T,) True where no farm had that day
    plant: str  # the farms the real days came from, nearest first


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def _read_farm_output(path: Path) -> dict[str, dict[dt.date, list[float | None]]]:
    """Each farm's kWh per trading period, by trading date; blank periods are None."""
    text = _read_text(path, "data.generation_file")
    rows = csv.reader(text.splitlines())
    header = next(rows, [])
    tps = [f"TP{n}" for n in range(1, 51)]
    if "POC_Code" not in header or "Trading_Date" not in header or tps[0] not in header:
        raise InputError(
            f"{path} line 1",
            "not an EMI Generation_MD file: expected POC_Code, Trading_Date and TP1..TP50",
        )
    poc_at, date_at = header.index("POC_Code"), header.index("Trading_Date")
    tp_at = [header.index(tp) if tp in header else -1 for tp in tps]
    farms: dict[str, dict[dt.date, list[float | None]]] = {}
    for number, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InputError(f"{path} line {number}", f"{len(row)} fields, not {len(header)}")
        try:
            day = dt.date.fromisoformat(row[date_at])
            values = [float(row[j]) if j >= 0 and row[j] != "" else None for j in tp_at]
        except ValueError as exc:
            raise InputError(f"{path} line {number}", f"{exc}") from exc
        if any(v is not None and not 0 <= v < 1e9 for v in values):
            raise InputError(f"{path} line {number}", "output must be kWh, 0 or more")
        farms.setdefault(row[poc_at], {})[day] = values
    return farms


def _bisect(
    made: Callable[[FloatArray], FloatArray], target: FloatArray, high: float
) -> FloatArray:
    """Per day, the x in [0, high] at which the non-decreasing made(x) reaches target."""
    low, top = np.zeros(len(target)), np.full(len(target), high)
    for _ in range(BISECTIONS):
        x = (low + top) / 2
        short = made(x) < target
        low, top = np.where(short, x, low), np.where(short, top, x)
    return (low + top) / 2


def _farm_days(farm: SolarFarm, days: dict[dt.date, list[float | None]]) -> dict[dt.date, float]:
    """Each day's clearness at the farm: the clear-sky index whose light, on the farm's
    trackers, would have made that day's output.

    The farm's size is not in the file, so it is estimated from the data: for each day, the
    capacity (kWh per half hour per W/m2) at which a clear sky would have made that day's
    output; the farm's own capacity is a high percentile of those over the year (the clear
    days). Each day's clearness is then solved for with that capacity."""
    first, last = min(days), max(days)
    cal = calendar(first, last)
    output = np.full(cal.periods, np.nan)
    starts = cal.day_starts()
    for day, values in days.items():
        d = (day - first).days
        count = starts[d + 1] - starts[d]
        output[starts[d] : starts[d + 1]] = [np.nan if v is None else v for v in values[:count]]
    have = ~np.isnan(output)
    day_of = cal.day_index
    day_output = np.bincount(day_of, np.where(have, output, 0.0), cal.days).astype(np.float64)
    limit = float(np.nanmax(output)) if have.any() else 0.0
    # A day with no output at all is an outage (even overcast days make some), not weather.
    real = (np.bincount(day_of, have, cal.days) > 0) & (day_output > 0)
    if not real.any() or limit <= 0:
        return {}
    sky = _sky(cal, farm.latitude, farm.longitude)
    track = pvlib.tracking.singleaxis(
        sky.apparent_zenith,
        sky.azimuth,
        max_angle=TRACKER_MAX_ANGLE,
        backtrack=True,
        gcr=TRACKER_GCR,
    )
    tilt = np.nan_to_num(np.asarray(track["surface_tilt"], dtype=float))
    azimuth = np.nan_to_num(np.asarray(track["surface_azimuth"], dtype=float))

    def on_panels(clearness: FloatArray) -> FloatArray:
        return np.where(have, _plane(sky, _light(sky, clearness[day_of]), tilt, azimuth), 0.0)

    def made(capacity: FloatArray, lit: FloatArray) -> FloatArray:
        total = np.bincount(day_of, np.minimum(capacity[day_of] * lit, limit), cal.days)
        return total.astype(np.float64)

    clear_lit = on_panels(np.ones(cal.days))
    # Capacity high enough that nearly every daylit half hour is clipped bounds the search.
    capacity = _bisect(lambda c: made(c, clear_lit), day_output, limit / 50)
    farm_capacity = np.full(cal.days, np.percentile(capacity[real], CLEAR_DAY_PERCENTILE))
    clearness = _bisect(lambda k: made(farm_capacity, on_panels(k)), day_output, MAX_CLEARNESS)
    return {first + dt.timedelta(days=int(d)): float(clearness[d]) for d in np.flatnonzero(real)}


def _same_day_in(year: int, day: dt.date) -> dt.date:
    if day.month == 2 and day.day == 29:
        return dt.date(year, 2, 28)
    return day.replace(year=year)


def _synthetic_clearness(days: Sequence[dt.date], seed: int) -> FloatArray:
    """A seeded draw per date, the same for a date whatever span it is asked within."""
    a, b = SYNTHETIC_BETA
    return np.array(
        [np.random.default_rng([seed, d.toordinal()]).beta(a, b) for d in days], dtype=float
    )


def _real_days(
    file: Path, dates: list[dt.date], farms: list[SolarFarm]
) -> tuple[dict[dt.date, float], dict[str, int], set[int]]:
    """Each date's clearness from the first farm (nearest first) that has it; the days each
    farm gave; the data years other years' dates were mapped into."""
    output = _read_farm_output(file)
    data_years = {d.year for days in output.values() for d in days}
    latest = max(data_years, default=dates[0].year)
    keys = {d: d if d.year in data_years else _same_day_in(latest, d) for d in dates}
    found: dict[dt.date, float] = {}
    used: dict[str, int] = {}
    years: set[int] = set()
    for farm in farms:  # a farther farm is modelled only for the days still missing
        remaining = [d for d in dates if d not in found]
        if not remaining or not output.get(farm.poc):
            continue
        farm_days = _farm_days(farm, output[farm.poc])
        for day in remaining:
            if keys[day] in farm_days:
                found[day] = farm_days[keys[day]]
                used[farm.poc] = used.get(farm.poc, 0) + 1
                years.update({keys[day].year} - {day.year})
    return found, used, years


def daily_clearness(
    cal: Calendar,
    file: Path | None,
    *,
    latitude: float,
    longitude: float,
    allow_synthetic: bool,
    seed: int = 7,
) -> tuple[Clearness, list[Provenance]]:
    """Each day's cloudiness, from the nearest solar farm (great-circle) that has that day.

    The farm data covers one year (2025): a date in another year takes the same month and day
    of the data's year (29 February takes the 28th). Days no farm has are synthetic if allowed.
    """
    dates: list[dt.date] = [cal.first + dt.timedelta(days=d) for d in range(cal.days)]
    farms = sorted(
        FARMS, key=lambda f: great_circle_km(latitude, longitude, f.latitude, f.longitude)
    )
    found, used, years = _real_days(file, dates, farms) if file is not None else ({}, {}, set())
    missing = [d for d in dates if d not in found]
    if missing and not allow_synthetic:
        if file is None:
            raise InputError(
                "data.generation_file",
                "no solar-farm output file (EMI Generation_MD, e.g. ../shared/data/generation/"
                "emi_generation_md_solar_farms_2025.csv): name one or set "
                "data.synthetic_weather: true",
            )
        raise InputError(
            "data.generation_file",
            f"{file} has no solar-farm output for {_days(len(missing))}: "
            f"{_compact_dates(missing)}; set data.synthetic_weather: true",
        )
    found.update(zip(missing, _synthetic_clearness(missing, seed), strict=True))
    per_day = np.array([found[d] for d in dates])
    day_synthetic = np.isin(np.arange(cal.days), [(d - cal.first).days for d in missing])
    mapped = f"; {'/'.join(map(str, sorted(years)))} cloudiness mapped by day of year"
    provenance = [
        Provenance(
            "cloudiness",
            f"EMI Generation_MD, {farm.name} solar farm {farm.poc} ({farm.region}), "
            f"{great_circle_km(latitude, longitude, farm.latitude, farm.longitude):.0f} km "
            f"away, {_days(used[farm.poc])}",
            "a day's output against its clear-sky output (pvlib Ineichen, Erbs split, "
            f"single-axis tracker){mapped if years else ''}; {EMI_CREDIT}",
        )
        for farm in farms
        if farm.poc in used
    ]
    if missing:
        provenance.append(
            Provenance(
                "cloudiness",
                f"synthetic (Beta{SYNTHETIC_BETA}, seed {seed}), {_days(len(missing))}",
                f"no solar-farm output for {_compact_dates(missing)}",
            )
        )
    clearness = Clearness(
        factor=per_day[cal.day_index],
        synthetic=day_synthetic[cal.day_index],
        plant=", ".join(f"{f.name} {f.poc}" for f in farms if f.poc in used),
    )
    return clearness, provenance


# --- Rooftop PV ---------------------------------------------------------------------------

# Of the irradiance on the panels, what reaches the switchboard: cell temperature, soiling,
# wiring, module mismatch, the panel glass at low sun, the inverter's efficiency. 0.80 is
# typical of hot climates; NZ's mild temperatures cost a few percent less, so 0.85. It puts
# a north-facing 25-degree Auckland system at about 1,400 kWh/kWp with 2025's cloudiness,
# inside the public 1,300-1,450 (lab/tests/test_inputs.py).
PERFORMANCE_RATIO = 0.85


def pv_kwh(cal: Calendar, homes: Sequence[HomeSpec], clearness: Clearness) -> FloatArray:
    """Each home's rooftop PV output, kWh per half hour, (H, T).

    Homes are grouped by place (to 0.1 degree: sun angles barely differ across a suburb) and
    panel plane (to 1 degree); one per-kWp profile is computed per group at the periods'
    mid-points and scaled by each home's kWp, then clipped at its inverter's half-hour energy.
    """
    result = np.zeros((len(homes), cal.periods))
    places: dict[tuple[float, float], dict[tuple[float, float], list[int]]] = {}
    for h, home in enumerate(homes):
        if home.pv_kwp > 0:
            place = (round(home.latitude, 1), round(home.longitude, 1))
            plane = (round(home.pv_tilt), round(home.pv_azimuth) % 360)
            places.setdefault(place, {}).setdefault(plane, []).append(h)
    kwh_per_kwp = PERFORMANCE_RATIO * 0.5 / 1000  # from W/m2 (1,000 at a panel's rating)
    for (latitude, longitude), planes in places.items():
        sky = _sky(cal, latitude, longitude)
        light = _light(sky, clearness.factor)
        for (tilt, azimuth), members in planes.items():
            per_kwp = _plane(sky, light, tilt, azimuth) * kwh_per_kwp
            kwp = np.array([homes[h].pv_kwp for h in members])
            limit = np.array([homes[h].inverter_kw * 0.5 for h in members])
            result[members] = np.minimum(np.outer(kwp, per_kwp), limit[:, None])
    return result


# --- Household load -----------------------------------------------------------------------

SEASONS = ("Summer", "Autumn", "Winter", "Spring")
# The middle of each southern-hemisphere season (Dec-Feb, Mar-May, Jun-Aug, Sep-Nov) as a day
# of the year; a day's shape blends linearly between the two nearest, so there is no step.
SEASON_CENTRES = (15.0, 105.0, 197.0, 288.0)
SLOT_SHIFT = 1.0  # each home's day runs up to this many half hours early or late
HALF_HOUR_SIGMA = 0.25
DAY_SIGMA = 0.1
YEAR_DAYS = 365.0
KWH_PER_WATT_HALF_HOUR = 0.5 / 1000


@dataclass(frozen=True)
class LoadShapes:
    """Mean household power (W) by local half hour, for days of the year at `centres`."""

    watts: FloatArray  # (seasons, 48)
    centres: tuple[float, ...]
    source: str


def read_load_shapes(path: Path) -> LoadShapes:
    """The GREEN Grid `Total` circuit: mean W per half hour and season, averaged over years."""
    text = _read_text(path, "data.consumption_file")
    rows = list(csv.reader(text.splitlines()))
    header = rows[0] if rows else []
    need = ("obsHalfHour", "eecaCircuit", "year", "season", "davgW")
    if any(c not in header for c in need):
        raise InputError(
            f"{path} line 1",
            f"not a GREEN Grid mean-power file: expected columns {', '.join(need)}",
        )
    at = {c: header.index(c) for c in need}
    sums = np.zeros((len(SEASONS), 48))
    counts = np.zeros((len(SEASONS), 48))
    years: set[str] = set()
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header) or row[at["eecaCircuit"]] != "Total":
            continue
        try:
            hour, minute = (int(x) for x in row[at["obsHalfHour"]].split(":")[:2])
            season = SEASONS.index(row[at["season"]])
            watts = float(row[at["davgW"]])
        except ValueError as exc:
            raise InputError(
                f"{path} line {number}", f"not a half hour, season and W: {exc}"
            ) from exc
        sums[season, hour * 2 + minute // 30] += watts
        counts[season, hour * 2 + minute // 30] += 1
        years.add(row[at["year"]])
    if (counts == 0).any():
        season, slot = np.argwhere(counts == 0)[0]
        raise InputError(
            str(path),
            f"the Total circuit has no {SEASONS[season]} mean for half hour {slot} "
            "(0-47): every season needs all 48",
        )
    source = f"GREEN Grid Total circuit ({path.name}), mean of {', '.join(sorted(years))}"
    return LoadShapes(sums / counts, SEASON_CENTRES, source)


EMBEDDED_SHAPES = LoadShapes(
    np.vstack([SUMMER_W, WINTER_W]),
    (SEASON_CENTRES[0], SEASON_CENTRES[2]),
    "GREEN Grid winter and summer days embedded in metering.household_model (no shapes file)",
)


def _daily_watts(shapes: LoadShapes, day_of_year: FloatArray) -> FloatArray:
    """(days, 48): each day's mean W by half hour, blended between the season centres."""
    eye = np.eye(len(shapes.centres))
    weights = np.stack(
        [np.interp(day_of_year, shapes.centres, eye[s], period=YEAR_DAYS) for s in range(len(eye))],
        axis=1,
    )
    return np.asarray(weights @ shapes.watts, dtype=float)


def _hash_uniform(seed: int, keys: npt.NDArray[np.int64], stream: int) -> FloatArray:
    """Uniform (0, 1) draws, one per key: splitmix64 of (seed, stream, key), so a period's draw
    does not depend on which other periods were asked for."""
    with np.errstate(over="ignore"):
        mixed = (seed * 1_000_003 + stream * 7_919) % 2**64
        salt = _splitmix(np.array([mixed], dtype=np.uint64))[0]
        z = _splitmix(keys.astype(np.uint64) ^ salt)
    return np.asarray(((z >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53)


def _splitmix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.asarray(z ^ (z >> np.uint64(31)))


def _hash_normal(seed: int, keys: npt.NDArray[np.int64], stream: int) -> FloatArray:
    u1, u2 = _hash_uniform(seed, keys, stream), _hash_uniform(seed, keys, stream + 1)
    return np.asarray(np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2))


def load_kwh(
    cal: Calendar, homes: Sequence[HomeSpec], shapes_file: Path | None
) -> tuple[FloatArray, list[Provenance]]:
    """Each home's household load (the EV excluded), kWh per half hour, (H, T).

    The season-blended mean day, indexed by local wall-clock half hour, scaled so that a full
    year would sum to the home's annual_load_kwh (a shorter span gets its seasonal share), then
    varied per home: the day shifted by up to a half hour either way, a lognormal factor per
    day and per half hour (mean 1, so annual totals stay on target), all drawn from hashes of
    (HomeSpec.seed, period) so a period's load is the same whatever span it is asked within.
    """
    shapes = EMBEDDED_SHAPES if shapes_file is None else read_load_shapes(shapes_file)
    dates = pd.DatetimeIndex(cal.local_date[cal.day_starts()[:-1]])
    day_watts = _daily_watts(shapes, dates.day_of_year.to_numpy(dtype=float))
    year_watts = _daily_watts(shapes, np.arange(1.0, YEAR_DAYS + 1)).sum()
    shape_year_kwh = year_watts * KWH_PER_WATT_HALF_HOUR
    period_key = cal.starts_utc.astype("datetime64[s]").astype(np.int64) // 1800
    day_key = cal.local_date.astype("datetime64[D]").astype(np.int64)
    flat_day = cal.day_index * 48
    result = np.zeros((len(homes), cal.periods))
    for h, home in enumerate(homes):
        shift = SLOT_SHIFT * (2 * _hash_uniform(home.seed, np.array([0]), 30)[0] - 1)
        position = cal.slot - shift
        low = np.floor(position)
        frac = position - low
        j = low.astype(np.int64) % 48
        mean = (1 - frac) * day_watts.flat[flat_day + j] + frac * day_watts.flat[
            flat_day + (j + 1) % 48
        ]
        noise = np.exp(
            HALF_HOUR_SIGMA * _hash_normal(home.seed, period_key, 10) - HALF_HOUR_SIGMA**2 / 2
        ) * np.exp(DAY_SIGMA * _hash_normal(home.seed, day_key, 20) - DAY_SIGMA**2 / 2)
        scale = home.annual_load_kwh / shape_year_kwh
        result[h] = mean * KWH_PER_WATT_HALF_HOUR * scale * noise
    provenance = [
        Provenance(
            "household load",
            shapes.source,
            "seasons blended by day of year, by local half hour; each home scaled to its "
            f"annual_load_kwh; per home a shift of up to {SLOT_SHIFT:g} half hour either way and "
            f"lognormal noise (sigma {HALF_HOUR_SIGMA:g} per half hour, {DAY_SIGMA:g} per day) "
            "seeded by HomeSpec.seed",
        )
    ]
    return result, provenance
