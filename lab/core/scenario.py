"""A research scenario: a YAML file (or the lab page's form) read into checked, frozen settings.

Everything is checked before any work starts, and every problem is reported at once with the
line and key it is on and what to write instead: a typo in a key must not silently fall back to
a default (a misspelt `synthetic_prices` would otherwise quietly mix synthetic data into a
study), and an hour-long run must not fail at minute 50 on a value that was wrong at line 3.

Files named in `data` are resolved against the scenario file's folder, so a scenario and its
price files travel together. Whether those files exist and hold the right node is checked by
the loaders (lab.core.inputs), also before any work starts (lab.core.runner.prepare).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from coop.tariffs import TariffError, TariffSpec, Window
from lab.core.results import BATTERIES, MECHANISMS, Design
from trading.prices.points import NODE
from trading.timevalue.formula import ParameterError, PriceParameters

MAX_HOMES = 20_000
MAX_DAYS = 366
# Homes x trading periods one run may hold in memory (each array of a strategy is this many
# floats): 2,000 homes for a year, 20,000 for five weeks. Past it, split the study.
MAX_HOME_PERIODS = 2_000 * 17_568
MAX_BYTES = 256 * 1024  # a scenario is a page of settings, not a data file


class ScenarioError(ValueError):
    """Every problem found in a scenario, each as 'line N, key a.b: what to change'."""

    def __init__(self, errors: list[str], source: str = "scenario") -> None:
        self.errors = errors
        self.source = source
        super().__init__(f"{source}: " + "; ".join(errors))


@dataclass(frozen=True)
class Range:
    low: float
    high: float


@dataclass(frozen=True)
class Mix:
    pv: float = 0.5  # share of homes with rooftop PV
    battery: float = 0.25  # share of homes with a battery (placed in PV homes first)
    ev: float = 0.3


@dataclass(frozen=True)
class Sizes:
    pv_kwp: Range = Range(3.0, 8.0)
    battery_kwh: Range = Range(5.0, 13.5)
    battery_kw: Range = Range(3.3, 5.0)
    ev_kwh_per_day: Range = Range(5.0, 14.0)
    annual_load_kwh: Range = Range(5500.0, 8500.0)


# What a generated home's size may be drawn from: (lowest, highest, unit) of each range.
SIZE_LIMITS = {
    "pv_kwp": (0.5, 30.0, "kWp"),
    "battery_kwh": (1.0, 100.0, "kWh"),
    "battery_kw": (0.5, 30.0, "kW"),
    "ev_kwh_per_day": (0.5, 80.0, "kWh"),
    "annual_load_kwh": (500.0, 50_000.0, "kWh"),
}


@dataclass(frozen=True)
class CommunitySettings:
    source: str  # "generated" or "coop" (the co-op's own members, read by lab.members)
    homes: int
    latitude: float
    longitude: float
    node: str
    transformers: int
    mix: Mix
    sizes: Sizes
    tariff_shares: tuple[tuple[str, float], ...]  # generated homes: tariff key and share
    hardship_share: float = 0.1  # of all homes: recipients of the pool (among the "neither")


@dataclass(frozen=True)
class DataSettings:
    price_files: tuple[Path, ...]
    synthetic_prices: bool
    generation_file: Path | None
    consumption_file: Path | None
    synthetic_weather: bool


@dataclass(frozen=True)
class Fees:
    coop_fee_c: Decimal = Decimal("0.5")
    network_c: Decimal = Decimal("4")  # the flat network charge on a peer-to-peer trade
    same_feeder_network_c: Decimal = Decimal("2")
    upstream_c: Decimal = Decimal("1")  # time-value: across transformers


@dataclass(frozen=True)
class Bidding:
    """How research households bid: a buyer's landed cost must beat retail by 1-9 c, a seller
    wants 1-9 c more than buy-back; each home draws its own margin from the range."""

    buyer_margin_c: Range = Range(1.0, 9.0)
    seller_margin_c: Range = Range(1.0, 9.0)


@dataclass(frozen=True)
class EnergyManagerSettings:
    """The home energy manager in a study: how far it looks ahead, what a kWh through the
    battery costs in wear, and how many rounds of price and response are run with the
    time-value price on (the live market iterates the same way, issue 12)."""

    horizon_days: int = 2
    wear_c: float = 2.0
    rounds: int = 2


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    first: dt.date
    last: dt.date
    community: CommunitySettings
    data: DataSettings
    tariffs: tuple[tuple[str, TariffSpec], ...]
    fees: Fees
    bidding: Bidding
    time_value: PriceParameters
    designs: tuple[Design, ...]
    energy_manager: EnergyManagerSettings = EnergyManagerSettings()
    raw: Mapping[str, Any] = field(default_factory=dict)  # the file as read, for the report

    def tariff(self, key: str) -> TariffSpec:
        return dict(self.tariffs)[key]

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


# --- reading YAML with the line of every key --------------------------------------------------


class _Lines(dict[tuple[str, ...], int]):
    def at(self, path: tuple[str, ...]) -> str:
        """'line N, a.b.c': the key asked about, on the line of it or of its nearest parent
        (a key that is missing is reported where it belongs)."""
        found = path
        while found and found not in self:
            found = found[:-1]
        line = self.get(found)
        key = ".".join(path) or "(top)"
        return f"line {line}, {key}" if line else key


def _plain(node: yaml.Node, path: tuple[str, ...], lines: _Lines) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in out:
                raise ScenarioError([f"line {key_node.start_mark.line + 1}: {key!r} given twice"])
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _plain(value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v, (*path, str(i)), lines) for i, v in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    # SafeLoader's resolver has already tagged the scalar (int, float, bool, date, str, null).
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def read_yaml(text: str, source: str = "scenario") -> tuple[dict[str, Any], _Lines]:
    if len(text.encode()) > MAX_BYTES:
        raise ScenarioError(
            [
                f"the file is over {MAX_BYTES // 1024} KiB; a scenario is settings, "
                "put data in the price files it names"
            ],
            source,
        )
    try:
        # Aliases are refused: a few lines of nested aliases expand to billions of values.
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise ScenarioError(
                    [
                        f"line {line}: YAML aliases (*name) are not allowed here; "
                        "write the value out"
                    ],
                    source,
                )
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError as exc:
        raise ScenarioError(["the file is nested too deeply to be a scenario"], source) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ScenarioError(
            [f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"], source
        ) from exc
    if node is None or not isinstance(node, yaml.MappingNode):
        raise ScenarioError(
            ["a scenario is a mapping of keys (name:, community:, span:, ...)"], source
        )
    lines = _Lines()
    try:
        data = _plain(node, (), lines)
    except ScenarioError as exc:
        raise ScenarioError(exc.errors, source) from exc
    return data, lines


# --- checking ----------------------------------------------------------------------------------


class _Check:
    """Reads one mapping of the scenario, key by key, collecting problems instead of stopping
    at the first, and refusing keys it does not know."""

    def __init__(self, errors: list[str], lines: _Lines) -> None:
        self.errors = errors
        self.lines = lines

    def fail(self, path: tuple[str, ...], message: str) -> None:
        self.errors.append(f"{self.lines.at(path)}: {message}")

    def mapping(
        self, value: Any, path: tuple[str, ...], known: Iterator[str] | tuple[str, ...]
    ) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping of keys")
            return {}
        allowed = tuple(known)
        for key in value:
            if key not in allowed:
                self.fail(
                    (*path, key), f"unknown key {key!r}; expected one of {', '.join(allowed)}"
                )
        return value

    def number(
        self,
        mapping: dict[str, Any],
        path: tuple[str, ...],
        key: str,
        default: float,
        *,
        low: float | None = None,
        high: float | None = None,
        what: str = "",
    ) -> float:
        value = mapping.get(key, default)
        where = (*path, key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.fail(where, f"must be a number{what}, not {value!r}")
            return default
        if low is not None and value < low:
            self.fail(where, f"must be at least {low:g}{what}, not {value!r}")
        if high is not None and value > high:
            self.fail(where, f"must be at most {high:g}{what}, not {value!r}")
        return float(value)

    def integer(
        self,
        mapping: dict[str, Any],
        path: tuple[str, ...],
        key: str,
        default: int,
        *,
        low: int,
        high: int,
    ) -> int:
        value = mapping.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail((*path, key), f"must be a whole number, not {value!r}")
            return default
        if not low <= value <= high:
            self.fail((*path, key), f"must be from {low} to {high}, not {value}")
            return default
        return value

    def cents(
        self,
        mapping: dict[str, Any],
        path: tuple[str, ...],
        key: str,
        default: str,
        *,
        low: float = 0.0,
        high: float = 1000.0,
    ) -> Decimal:
        value = mapping.get(key, default)
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            amount = Decimal(str(value))
        except InvalidOperation:
            self.fail((*path, key), f"must be c/kWh as a number, not {value!r}")
            return Decimal(default)
        if not amount.is_finite() or not low <= amount <= high:
            self.fail((*path, key), f"must be from {low:g} to {high:g} c/kWh, not {value}")
            return Decimal(default)
        return amount

    def flag(self, mapping: dict[str, Any], path: tuple[str, ...], key: str, default: bool) -> bool:
        value = mapping.get(key, default)
        if not isinstance(value, bool):
            self.fail((*path, key), f"must be true or false, not {value!r}")
            return default
        return value

    def text(self, mapping: dict[str, Any], path: tuple[str, ...], key: str, default: str) -> str:
        value = mapping.get(key, default)
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            self.fail((*path, key), f"must be a short text, not {value!r}")
            return default
        return value.strip()

    def range(
        self,
        mapping: dict[str, Any],
        path: tuple[str, ...],
        key: str,
        default: Range,
        *,
        low: float,
        high: float,
        unit: str,
    ) -> Range:
        value = mapping.get(key, [default.low, default.high])
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = [value, value]
        if not (isinstance(value, list) and len(value) == 2):
            self.fail((*path, key), f"must be a number or [low, high] in {unit}, not {value!r}")
            return default
        pair = {"low": value[0], "high": value[1]}
        a = self.number(pair, (*path, key), "low", default.low, low=low, high=high, what=f" {unit}")
        b = self.number(
            pair, (*path, key), "high", default.high, low=low, high=high, what=f" {unit}"
        )
        if a > b:
            self.fail((*path, key), f"the low end {a:g} is above the high end {b:g}")
            return default
        return Range(a, b)

    def date(self, mapping: dict[str, Any], path: tuple[str, ...], key: str) -> dt.date | None:
        value = mapping.get(key)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        self.fail((*path, key), f"must be a date written YYYY-MM-DD, not {value!r}")
        return None

    def path(self, base: Path, value: Any, where: tuple[str, ...]) -> Path | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(where, f"must be a file path, not {value!r}")
            return None
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else (base / candidate).resolve()


TOP_KEYS = (
    "name",
    "seed",
    "community",
    "span",
    "data",
    "tariffs",
    "fees",
    "bidding",
    "time_value",
    "energy_manager",
    "designs",
)


def _community(check: _Check, raw: Any) -> CommunitySettings:
    path = ("community",)
    m = check.mapping(
        raw,
        path,
        (
            "source",
            "homes",
            "latitude",
            "longitude",
            "node",
            "transformers",
            "mix",
            "sizes",
            "tariff_shares",
            "hardship_share",
        ),
    )
    source = m.get("source", "generated")
    if source not in ("generated", "coop"):
        check.fail(
            (*path, "source"),
            f"must be generated or coop (the co-op's own members), not {source!r}",
        )
        source = "generated"
    homes = check.integer(m, path, "homes", 100, low=0, high=MAX_HOMES)
    if source == "generated" and homes < 1:
        check.fail((*path, "homes"), "a generated community needs at least 1 home")
    node = str(m.get("node", "PEN0331"))
    if not NODE.match(node):
        check.fail((*path, "node"), f"{node!r} is not a grid exit point code such as PEN0331")
    mix_raw = check.mapping(m.get("mix"), (*path, "mix"), ("pv", "battery", "ev"))
    mix = Mix(
        *(
            check.number(
                mix_raw,
                (*path, "mix"),
                k,
                getattr(Mix(), k),
                low=0,
                high=1,
                what=" (a share of homes, 0 to 1)",
            )
            for k in ("pv", "battery", "ev")
        )
    )
    sizes_raw = check.mapping(m.get("sizes"), (*path, "sizes"), tuple(SIZE_LIMITS))
    d = Sizes()
    sizes = Sizes(
        **{
            key: check.range(
                sizes_raw, (*path, "sizes"), key, getattr(d, key), low=low, high=high, unit=unit
            )
            for key, (low, high, unit) in SIZE_LIMITS.items()
        }
    )
    shares_raw = m.get("tariff_shares", {"flat": 0.6, "tou": 0.4})
    shares: list[tuple[str, float]] = []
    if not isinstance(shares_raw, dict) or not shares_raw:
        check.fail(
            (*path, "tariff_shares"), "must map tariff names to shares, e.g. {flat: 0.6, tou: 0.4}"
        )
    else:
        for key in shares_raw:
            shares.append(
                (key, check.number(shares_raw, (*path, "tariff_shares"), key, 0.0, low=0, high=1))
            )
        if shares and abs(sum(s for _, s in shares) - 1.0) > 1e-6:
            check.fail(
                (*path, "tariff_shares"),
                f"the shares add up to {sum(s for _, s in shares):g}, not 1",
            )
    return CommunitySettings(
        source=source,
        homes=homes,
        latitude=check.number(
            m, path, "latitude", -36.85, low=-47.5, high=-34.0, what=" (NZ latitude)"
        ),
        longitude=check.number(
            m, path, "longitude", 174.76, low=166.0, high=178.7, what=" (NZ longitude)"
        ),
        node=node,
        transformers=check.integer(m, path, "transformers", max(1, homes // 25), low=1, high=5_000),
        mix=mix,
        sizes=sizes,
        tariff_shares=tuple(shares),
        hardship_share=check.number(
            m, path, "hardship_share", 0.1, low=0, high=1, what=" (a share of homes, 0 to 1)"
        ),
    )


def _windows(check: _Check, raw: Any, path: tuple[str, ...]) -> tuple[Window, ...]:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = [{"times": "00:00-00:00", "c": raw}]
    if not isinstance(raw, list) or not raw:
        check.fail(
            path,
            "must be a rate in c/kWh or a list of windows "
            "({days: Mon-Fri, times: 07:00-11:00, months: All, c: 38})",
        )
        return ()
    windows = []
    for i, item in enumerate(raw):
        where = (*path, str(i))
        w = check.mapping(item, where, ("label", "days", "times", "months", "c"))
        times = str(w.get("times", "00:00-00:00"))
        try:
            start_text, end_text = times.split("-")
            start, end = (
                dt.time.fromisoformat(start_text.strip()),
                dt.time.fromisoformat(end_text.strip()),
            )
        except ValueError:
            check.fail((*where, "times"), f"must be HH:MM-HH:MM, not {times!r}")
            continue
        windows.append(
            Window(
                label=str(w.get("label", f"{w.get('days', 'All')} {times}")),
                days=str(w.get("days", "All")),
                start=start,
                end=end,
                months=str(w.get("months", "All")),
                rate_c=check.cents(w, where, "c", "0"),
            )
        )
    return tuple(windows)


def _tariffs(check: _Check, raw: Any) -> tuple[tuple[str, TariffSpec], ...]:
    if raw is None:
        raw = DEFAULT_TARIFFS
    if not isinstance(raw, dict) or not raw:
        check.fail(("tariffs",), "must map tariff names to tariffs")
        return ()
    out = []
    for key, value in raw.items():
        path = ("tariffs", key)
        t = check.mapping(value, path, ("import", "lines", "daily_c", "buyback_c", "includes_gst"))
        if "import" not in t:
            check.fail(path, "needs import: a rate in c/kWh or time-of-use windows")
            continue
        spec = TariffSpec(
            daily_fixed_c=check.cents(t, path, "daily_c", "0", high=2000),
            buyback_c=check.cents(t, path, "buyback_c", "0"),
            import_windows=_windows(check, t["import"], (*path, "import")),
            lines_windows=_windows(check, t["lines"], (*path, "lines")) if "lines" in t else (),
            prices_include_gst=check.flag(t, path, "includes_gst", True),
        )
        try:
            spec.validate()
        except TariffError as exc:
            check.fail(path, str(exc))
            continue
        out.append((key, spec))
    return tuple(out)


def _designs(check: _Check, raw: Any) -> tuple[Design, ...]:
    path = ("designs",)
    m = check.mapping(raw, path, ("mechanisms", "batteries", "time_value", "gifts"))

    def choices(key: str, allowed: tuple[Any, ...], default: tuple[Any, ...]) -> list[Any]:
        value = m.get(key, list(default))
        if not isinstance(value, list):
            value = [value]
        bad = [
            v
            for v in value
            if v not in allowed or isinstance(v, bool) != isinstance(allowed[0], bool)
        ]
        if bad or not value:
            check.fail(
                (*path, key),
                f"must be a list drawn from {', '.join(map(str, allowed))}; not {bad or value!r}",
            )
            return list(default)
        return list(dict.fromkeys(value))

    mechanisms = choices("mechanisms", MECHANISMS, MECHANISMS)
    batteries = choices("batteries", BATTERIES, ("none", "self_consumption"))
    tv = choices("time_value", (False, True), (False,))
    gifts = choices("gifts", tuple(range(101)), (0,))
    designs = []
    for battery in batteries:
        for on in tv:
            # Savings are measured against retailer-only with the same batteries and network
            # price, so the baseline is always run, listed or not.
            designs.append(Design("retailer_only", battery, on))
            designs.extend(
                Design(m_, battery, on, gift)
                for gift in gifts
                for m_ in mechanisms
                if m_ != "retailer_only"
            )
    return tuple(designs)


def _parameters(check: _Check, raw: Any) -> PriceParameters:
    names = tuple(PriceParameters.__dataclass_fields__)
    m = check.mapping(raw, ("time_value",), names)
    default = PriceParameters()
    values = {k: check.number(m, ("time_value",), k, getattr(default, k)) for k in m if k in names}
    params = PriceParameters(**{**{k: getattr(default, k) for k in names}, **values})
    try:
        params.validate()
    except ParameterError as exc:
        check.fail(("time_value", exc.field), str(exc))
        return default
    return params


def _energy_manager(check: _Check, raw: Any) -> EnergyManagerSettings:
    path = ("energy_manager",)
    m = check.mapping(raw, path, ("horizon_days", "wear_c", "rounds"))
    d = EnergyManagerSettings()
    return EnergyManagerSettings(
        horizon_days=check.integer(m, path, "horizon_days", d.horizon_days, low=1, high=7),
        wear_c=check.number(m, path, "wear_c", d.wear_c, low=0, high=50, what=" c/kWh"),
        rounds=check.integer(m, path, "rounds", d.rounds, low=1, high=5),
    )


def parse(text: str, *, base: Path | None = None, source: str = "scenario") -> Scenario:
    """Read and check a scenario; ScenarioError lists everything wrong with it."""
    raw, lines = read_yaml(text, source)
    errors: list[str] = []
    check = _Check(errors, lines)
    top = check.mapping(raw, (), TOP_KEYS)
    base = base or Path.cwd()
    span = check.mapping(top.get("span"), ("span",), ("from", "to"))
    first = check.date(span, ("span",), "from") if "from" in span else None
    last = check.date(span, ("span",), "to") if "to" in span else None
    if "span" not in top or first is None or last is None:
        if not any(e.startswith(lines.at(("span",))) for e in errors):
            check.fail(("span",), "needs from: and to: dates (YYYY-MM-DD), e.g. from: 2026-05-03")
        first = last = dt.date(2026, 1, 1)
    elif last < first:
        check.fail(("span", "to"), f"{last} is before the span's start {first}")
    elif (last - first).days + 1 > MAX_DAYS:
        check.fail(
            ("span", "to"), f"the span is {(last - first).days + 1} days; at most {MAX_DAYS}"
        )
    data = check.mapping(
        top.get("data"),
        ("data",),
        (
            "price_files",
            "synthetic_prices",
            "generation_file",
            "consumption_file",
            "synthetic_weather",
        ),
    )
    files_raw = data.get("price_files", [])
    if isinstance(files_raw, str):
        files_raw = [files_raw]
    if not isinstance(files_raw, list):
        check.fail(("data", "price_files"), "must be a list of EMI FinalEnergyPrices files")
        files_raw = []
    price_files = tuple(
        p
        for i, f in enumerate(files_raw)
        if (p := check.path(base, f, ("data", "price_files", str(i))))
    )
    community = _community(check, top.get("community"))
    tariffs = _tariffs(check, top.get("tariffs"))
    for key, _ in community.tariff_shares:
        if tariffs and key not in dict(tariffs):
            check.fail(
                ("community", "tariff_shares", key),
                f"names a tariff {key!r} that tariffs: does not define "
                f"({', '.join(k for k, _ in tariffs)})",
            )
    fees_raw = check.mapping(top.get("fees"), ("fees",), tuple(Fees.__dataclass_fields__))
    d = Fees()
    fees = Fees(
        *(
            check.cents(fees_raw, ("fees",), k, str(getattr(d, k)), high=100)
            for k in Fees.__dataclass_fields__
        )
    )
    bid_raw = check.mapping(top.get("bidding"), ("bidding",), tuple(Bidding.__dataclass_fields__))
    b = Bidding()
    bidding = Bidding(
        **{
            key: check.range(
                bid_raw, ("bidding",), key, getattr(b, key), low=0, high=50, unit="c/kWh"
            )
            for key in Bidding.__dataclass_fields__
        }
    )
    scenario = Scenario(
        name=check.text(top, (), "name", "Scenario"),
        seed=check.integer(top, (), "seed", 7, low=0, high=2**31 - 1),
        first=first,
        last=last,
        community=community,
        data=DataSettings(
            price_files=price_files,
            synthetic_prices=check.flag(data, ("data",), "synthetic_prices", False),
            generation_file=check.path(
                base, data.get("generation_file"), ("data", "generation_file")
            ),
            consumption_file=check.path(
                base, data.get("consumption_file"), ("data", "consumption_file")
            ),
            synthetic_weather=check.flag(data, ("data",), "synthetic_weather", True),
        ),
        tariffs=tariffs,
        fees=fees,
        bidding=bidding,
        time_value=_parameters(check, top.get("time_value")),
        designs=_designs(check, top.get("designs")),
        energy_manager=_energy_manager(check, top.get("energy_manager")),
        raw=raw,
    )
    home_periods = scenario.community.homes * scenario.days * 48
    if scenario.community.source == "generated" and home_periods > MAX_HOME_PERIODS:
        check.fail(
            ("community", "homes"),
            f"{scenario.community.homes:,} homes over {scenario.days} days is more than one run "
            f"holds ({MAX_HOME_PERIODS // 17_568:,} homes for a year): split the study or use "
            "a sweep",
        )
    if not price_files and not scenario.data.synthetic_prices:
        check.fail(
            ("data", "price_files"),
            "no price files and synthetic_prices is false: name "
            "EMI FinalEnergyPrices files, or set synthetic_prices: true",
        )
    if errors:
        raise ScenarioError(errors, source)
    return scenario


def data_files(scenario: Scenario) -> list[tuple[str, Path]]:
    """Every file a scenario reads, with its key."""
    d = scenario.data
    files = [(f"data.price_files.{i}", p) for i, p in enumerate(d.price_files)]
    files += [
        (k, p)
        for k, p in (
            ("data.generation_file", d.generation_file),
            ("data.consumption_file", d.consumption_file),
        )
        if p
    ]
    return files


def check_data_folders(scenario: Scenario, folders: list[Path]) -> None:
    """A scenario saved on the site reads only from the lab's data folders: its error messages
    quote the files' lines, so any other path would let a scenario read the server's files."""
    roots = [f.resolve() for f in folders]
    outside = [
        f"{key}: {path} is outside the lab's data folders "
        f"({', '.join(str(r) for r in roots)}); put the file in one of them"
        for key, path in data_files(scenario)
        if not any(path.resolve().is_relative_to(root) for root in roots)
    ]
    if outside:
        raise ScenarioError(outside)


def load(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"cannot read it ({exc})"], str(path)) from exc
    return parse(text, base=path.resolve().parent, source=str(path))


# A realistic pair of Auckland plans (2026, GST-inclusive as retailers publish them): a flat
# "anytime" rate and a time-of-use plan with weekday peaks, a cheaper night and the 2026
# standard-user daily charge; buy-back at 12 c, lines (Vector-like) peak and off-peak.
DEFAULT_TARIFFS: dict[str, Any] = {
    "flat": {
        "import": 33.5,
        "lines": [
            {"label": "Peak", "days": "Mon-Fri", "times": "07:00-11:00", "c": 14.0},
            {"label": "Peak", "days": "Mon-Fri", "times": "17:00-21:00", "c": 14.0},
            {"label": "Off-peak", "days": "Mon-Fri", "times": "11:00-17:00", "c": 6.5},
            {"label": "Off-peak", "days": "Mon-Fri", "times": "21:00-07:00", "c": 6.5},
            {"label": "Weekend", "days": "Sat,Sun", "times": "00:00-00:00", "c": 6.5},
        ],
        "daily_c": 245,
        "buyback_c": 12,
    },
    "tou": {
        "import": [
            {"label": "Peak", "days": "Mon-Fri", "times": "07:00-11:00", "c": 41.0},
            {"label": "Peak", "days": "Mon-Fri", "times": "17:00-21:00", "c": 41.0},
            {"label": "Off-peak", "days": "Mon-Fri", "times": "11:00-17:00", "c": 28.0},
            {"label": "Off-peak", "days": "Mon-Fri", "times": "21:00-23:00", "c": 28.0},
            {"label": "Night", "days": "All", "times": "23:00-07:00", "c": 18.0},
            {"label": "Weekend", "days": "Sat,Sun", "times": "07:00-23:00", "c": 28.0},
        ],
        "lines": [
            {"label": "Peak", "days": "Mon-Fri", "times": "07:00-11:00", "c": 14.0},
            {"label": "Peak", "days": "Mon-Fri", "times": "17:00-21:00", "c": 14.0},
            {"label": "Off-peak", "days": "Mon-Fri", "times": "11:00-17:00", "c": 6.5},
            {"label": "Off-peak", "days": "Mon-Fri", "times": "21:00-07:00", "c": 6.5},
            {"label": "Weekend", "days": "Sat,Sun", "times": "00:00-00:00", "c": 6.5},
        ],
        "daily_c": 245,
        "buyback_c": 12,
    },
}
