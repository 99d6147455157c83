"""Clearing and settling a study's trading periods under one design, with the live engine.

Each period's book is what the homes' meters will read (perfect foresight: the study compares
designs, not forecasts): a home short of energy bids for its import, a home with surplus offers
its export. The book is cleared by `trading.engine.clear`, the same code that clears the live
market, so a study's uniform price or pay-as-bid is the co-op's own.

Limits are what a sensible household would set: a buyer's landed cost (energy price plus the
trade's network charge and the co-op fee) must beat its retail import price by its margin; a
seller wants its buy-back rate plus its margin, less any export credit the network pays it.

Settlement follows `trading.engine.settlement` (the live rules) in integer micro-NZD, but over
all homes at once rather than line by line: every movement of money is one rounded amount
leaving one account and arriving at another, so each period sums to exactly zero across the
homes, the retailer, the network and the co-op; `settle_period` asserts it, period by period.
What a home metered beyond its trades is its retailer's, at its own tariff. With the
time-value network price on, the retailer passes the distributor's price through on grid
imports (in place of the static lines charge within the retail rate) and the export credit on
grid exports, which is what the energy manager plans against.

The results are tallies that add up over periods (per-home totals, per-month and per-period
community figures), so a study can be cleared in period chunks on many workers and summed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from coop.nz import remove_gst
from coop.tariffs import TariffSpec, Window, covered_slots
from coop.units import cents_to_units, value_micro
from lab.core.calendar import Calendar
from lab.core.results import Design
from trading.engine import Book, Mechanism, Rules, clear
from trading.engine.sharing import GIFT, PPM, Arrangements, Pledge, Recipient, clear_shared

Ints = npt.NDArray[np.int64]
UNIT = Decimal("0.0001")  # c/kWh: one engine price unit
ENGINE_MECHANISM = {
    "uniform": Mechanism.UNIFORM,
    "pay_as_bid": Mechanism.PAY_AS_BID,
    "mid_market": Mechanism.MID_MARKET,
    "time_value": Mechanism.TIME_VALUE,
}


class UnbalancedPeriod(AssertionError):
    """A period whose transfers do not sum to zero: a bug, never a result to report."""


@dataclass(frozen=True, eq=False)
class TariffTable:
    """Every home's prices per period in engine units (1e-4 c/kWh, excl. GST)."""

    import_units: Ints  # (H, T)
    lines_units: Ints  # (H, T) the static lines part of the retail rate
    buyback_units: Ints  # (H,)
    daily_micro: Ints  # (H,) daily fixed charge, micro-NZD


def _units(c_per_kwh: Decimal, includes_gst: bool) -> int:
    excl = remove_gst(c_per_kwh) if includes_gst else c_per_kwh
    return cents_to_units(excl.quantize(UNIT))


def _window_table(windows: tuple[Window, ...], includes_gst: bool) -> Ints:
    """(month, weekday, slot) -> rate in engine units: one lookup per period afterwards."""
    table = np.zeros((12, 7, 48), dtype=np.int64)
    for window in windows:
        rate = _units(window.rate_c, includes_gst)
        for month, day, slot in covered_slots(window):
            table[month, day, slot] = rate
    return table


def tariff_table(
    cal: Calendar, tariffs: dict[str, TariffSpec], home_tariffs: list[str]
) -> TariffTable:
    rows_import: dict[str, Ints] = {}
    rows_lines: dict[str, Ints] = {}
    buyback: dict[str, int] = {}
    daily: dict[str, int] = {}
    key = (cal.month - 1, cal.weekday, cal.slot)
    for name, spec in tariffs.items():
        rows_import[name] = _window_table(spec.import_windows, spec.prices_include_gst)[key]
        rows_lines[name] = (
            _window_table(spec.lines_windows, spec.prices_include_gst)[key]
            if spec.lines_windows
            else np.zeros(cal.periods, dtype=np.int64)
        )
        buyback[name] = _units(spec.buyback_c, spec.buyback_includes_gst)
        # 1 c is 10,000 micro-NZD.
        daily[name] = int((spec.daily_fixed_excl_c() * 10_000).to_integral_value())
    return TariffTable(
        import_units=np.stack([rows_import[t] for t in home_tariffs]),
        lines_units=np.stack([rows_lines[t] for t in home_tariffs]),
        buyback_units=np.array([buyback[t] for t in home_tariffs], dtype=np.int64),
        daily_micro=np.array([daily[t] for t in home_tariffs], dtype=np.int64),
    )


@dataclass(frozen=True, eq=False)
class Network:
    """Where each home sits, and the time-value prices of its feeder (1e-4 c/kWh)."""

    feeder: Ints  # (H,) feeder index
    transformer: Ints  # (H,) transformer index
    import_units: Ints  # (F, T) feeder import price (time-value), the trade's network charge
    credit_units: Ints  # (F, T) feeder export credit
    hardship: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        if len(self.hardship) != len(self.feeder):
            object.__setattr__(self, "hardship", np.zeros(len(self.feeder), dtype=bool))


@dataclass(frozen=True)
class Fees:
    coop_fee_units: int
    network_units: int
    same_feeder_units: int
    upstream_units: int


@dataclass(eq=False)
class Tally:
    """Additive results of a design over some periods. Money in micro-NZD, energy in Wh;
    `amount` is what each home received (negative: paid), the daily fixed charge excluded."""

    homes: int
    months: int
    periods_total: int  # T of the whole span (chunks fill their own part of the (T,) columns)
    amount: Ints = field(init=False)  # (H,)
    bought_wh: Ints = field(init=False)
    sold_wh: Ints = field(init=False)
    import_wh: Ints = field(init=False)
    export_wh: Ints = field(init=False)
    month_amount: Ints = field(init=False)  # (months,) community, indexed by month number
    coop_micro: int = 0
    network_micro: int = 0  # the network's account: trade charges, time-value pass-through, credits
    lines_micro: int = 0  # static lines inside the retail rate of grid imports
    periods_balanced: int = 0
    periods: int = 0
    p2p_wh: Ints = field(init=False)  # (T,) traded Wh per period
    p2p_value: Ints = field(init=False)  # (T,) energy value, micro-NZD
    gift_wh: Ints = field(init=False)  # (H,) received from the hardship pool

    def __post_init__(self) -> None:
        zeros = np.zeros(self.homes, dtype=np.int64)
        self.amount, self.bought_wh, self.sold_wh = zeros.copy(), zeros.copy(), zeros.copy()
        self.import_wh, self.export_wh = zeros.copy(), zeros.copy()
        self.month_amount = np.zeros(self.months, dtype=np.int64)
        self.p2p_wh = np.zeros(self.periods_total, dtype=np.int64)
        self.p2p_value = np.zeros(self.periods_total, dtype=np.int64)
        self.gift_wh = np.zeros(self.homes, dtype=np.int64)

    def add(self, other: Tally) -> None:
        for name in (*ARRAYS, *SCALARS):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_arrays(self, prefix: str) -> dict[str, Ints]:
        """For np.savez: a chunk's tally travels between workers as a file."""
        out = {f"{prefix}{name}": getattr(self, name) for name in ARRAYS}
        out[f"{prefix}scalars"] = np.array([getattr(self, n) for n in SCALARS], dtype=np.int64)
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Ints], prefix: str) -> Tally:
        amount = arrays[f"{prefix}amount"]
        tally = cls(
            len(amount), len(arrays[f"{prefix}month_amount"]), len(arrays[f"{prefix}p2p_wh"])
        )
        for name in ARRAYS:
            setattr(tally, name, np.array(arrays[f"{prefix}{name}"], dtype=np.int64))
        for name, value in zip(SCALARS, arrays[f"{prefix}scalars"].tolist(), strict=True):
            setattr(tally, name, int(value))
        return tally


ARRAYS = (
    "gift_wh",
    "amount",
    "bought_wh",
    "sold_wh",
    "import_wh",
    "export_wh",
    "month_amount",
    "p2p_wh",
    "p2p_value",
)
SCALARS = ("coop_micro", "network_micro", "lines_micro", "periods_balanced", "periods")


@dataclass(frozen=True, eq=False)
class Terms:
    """What every period of a study is cleared and settled on: the homes' tariffs, their places
    and feeder prices, the co-op's fees, and each home's bidding margins (engine units)."""

    tariff: TariffTable
    network: Network
    fees: Fees
    buyer_margin: Ints  # (H,)
    seller_margin: Ints  # (H,)


def limits(design: Design, t: int, terms: Terms) -> tuple[Ints, Ints]:
    """Each home's bid and ask limit in period t (1e-4 c/kWh): a trade must beat what the home
    would otherwise pay or be paid, which with the time-value price on is the retail rate with
    the distributor's price in place of the static lines part, and buy-back plus the credit."""
    tariff, network, fees = terms.tariff, terms.network, terms.fees
    feeder = network.feeder
    alternative_buy = tariff.import_units[:, t]
    alternative_sell = tariff.buyback_units
    if design.time_value:
        alternative_buy = (
            alternative_buy - tariff.lines_units[:, t] + network.import_units[feeder, t]
        )
        alternative_sell = alternative_sell + network.credit_units[feeder, t]
    if design.mechanism == "time_value":
        charge = network.import_units[feeder, t]
        credit = network.credit_units[feeder, t]
    else:
        charge = np.full(len(feeder), fees.network_units, dtype=np.int64)
        credit = np.zeros(len(feeder), dtype=np.int64)
    bid = alternative_buy - charge - fees.coop_fee_units - terms.buyer_margin
    ask = alternative_sell + terms.seller_margin - credit
    return bid, ask


def _rules(design: Design, t: int, terms: Terms) -> Rules:
    tariff, network, fees = terms.tariff, terms.network, terms.fees

    def c(units: int | np.integer) -> Decimal:
        return Decimal(int(units)).scaleb(-4)

    common: dict[str, Any] = {
        "mechanism": ENGINE_MECHANISM[design.mechanism],
        "coop_fee_c": c(fees.coop_fee_units),
        "network_c": c(fees.network_units),
        "same_feeder_network_c": c(fees.same_feeder_units),
        # Mid-market's midpoint: the community's mean retail rate and buy-back this period.
        "retail_import_c": c(int(tariff.import_units[:, t].mean())),
        "buyback_c": c(int(tariff.buyback_units.mean())),
    }
    if design.mechanism == "time_value":
        common |= {
            "feeder_import_c": tuple(c(u) for u in network.import_units[:, t]),
            "feeder_export_credit_c": tuple(c(u) for u in network.credit_units[:, t]),
            "upstream_c": c(fees.upstream_units),
        }
    return Rules(**common)


def settle_period(
    design: Design,
    t: int,
    month: int,
    import_wh: Ints,
    export_wh: Ints,
    terms: Terms,
    tally: Tally,
) -> None:
    """Clear and settle period t for every home, adding to `tally`."""
    tariff, network = terms.tariff, terms.network
    h = len(import_wh)
    received = np.zeros(h, dtype=np.int64)
    retailer = coop = net_account = 0
    bought = np.zeros(h, dtype=np.int64)
    sold = np.zeros(h, dtype=np.int64)
    if design.mechanism != "retailer_only":
        buyers = np.flatnonzero(import_wh > 0)
        sellers = np.flatnonzero(export_wh > 0)
        if len(buyers) and len(sellers):
            bid, ask = limits(design, t, terms)
            rows = np.concatenate((buyers, sellers))
            book = Book(
                order_id=rows + 1,
                is_buy=np.concatenate((np.ones(len(buyers), bool), np.zeros(len(sellers), bool))),
                wh=np.concatenate((import_wh[buyers], export_wh[sellers])),
                price=np.concatenate((bid[buyers], ask[sellers])),
                submitted=np.zeros(len(rows), dtype=np.int64),
                feeder=network.feeder[rows],
                member=rows + 1,
                transformer=network.transformer[rows],
            )
            rules = _rules(design, t, terms)
            if design.gift_pct and network.hardship.any():
                # Every seller gives that share of their surplus to the hardship pool first;
                # the pool's homes receive it at no price (no monthly cap in a study).
                shared = clear_shared(book, rules, _gifts(design, network, rows))
                result, kinds = shared.result, shared.kind
                gift = kinds == GIFT
                tally.gift_wh += np.bincount(
                    result.buy_id[gift] - 1, result.wh[gift], minlength=h
                ).astype(np.int64)
            else:
                result = clear(book, rules)
            if result.trade_count:
                b, s = result.buy_id - 1, result.sell_id - 1
                pays = result.energy_value + result.network_value + result.fee_value
                gets = result.energy_value + result.export_credit_value
                received -= np.bincount(b, pays, minlength=h).astype(np.int64)
                received += np.bincount(s, gets, minlength=h).astype(np.int64)
                net_account += int(result.network_value.sum() - result.export_credit_value.sum())
                coop += int(result.fee_value.sum())
                bought = np.bincount(b, result.wh, minlength=h).astype(np.int64)
                sold = np.bincount(s, result.wh, minlength=h).astype(np.int64)
                tally.p2p_wh[t] = int(result.wh.sum())
                tally.p2p_value[t] = int(result.energy_value.sum())
    # What the meters read beyond the trades is the retailer's (live rule: engine.settlement).
    rest_import = import_wh - bought
    rest_export = export_wh - sold
    if (rest_import < 0).any() or (rest_export < 0).any():
        raise UnbalancedPeriod(f"period {t}: a home traded more than it metered")
    to_retailer = value_micro(rest_import, tariff.import_units[:, t])
    from_retailer = value_micro(rest_export, tariff.buyback_units)
    received += from_retailer - to_retailer
    retailer += int(to_retailer.sum() - from_retailer.sum())
    lines = value_micro(rest_import, tariff.lines_units[:, t])
    if design.time_value:
        # The distributor's time-value price replaces the static lines part of the retail
        # rate (it can be below it: then the network pays the difference back), and grid
        # export earns the feeder's export credit.
        feeder = network.feeder
        adjustment = value_micro(
            rest_import, network.import_units[feeder, t] - tariff.lines_units[:, t]
        )
        credit = value_micro(rest_export, network.credit_units[feeder, t])
        received += credit - adjustment
        net_account += int(adjustment.sum() - credit.sum())
    total = int(received.sum()) + retailer + coop + net_account
    if total != 0:
        raise UnbalancedPeriod(f"{design.key}, period {t}: transfers sum to {total} micro-NZD")
    tally.periods_balanced += 1
    tally.periods += 1
    tally.amount += received
    tally.month_amount[month] += int(received.sum())
    tally.bought_wh += bought
    tally.sold_wh += sold
    tally.import_wh += import_wh
    tally.export_wh += export_wh
    tally.coop_micro += coop
    tally.network_micro += net_account
    tally.lines_micro += int(lines.sum())


def _gifts(design: Design, network: Network, rows: Ints) -> Arrangements:
    member = rows + 1
    hardship = network.hardship[rows]
    return Arrangements(
        pledges=tuple(Pledge(int(m), design.gift_pct * PPM // 100) for m in member[~hardship]),
        recipients=tuple(Recipient(int(m), 2**62) for m in member[hardship]),
    )


def run_design(
    design: Design,
    periods: range,
    month_index: Ints,
    import_wh: Ints,
    export_wh: Ints,
    terms: Terms,
    months: int,
) -> Tally:
    """Clear and settle `periods` (indices into the calendar) under one design. Energy is
    laid out (T, H): one period's homes are contiguous."""
    tally = Tally(import_wh.shape[1], months, import_wh.shape[0])
    for t in periods:
        settle_period(design, t, int(month_index[t]), import_wh[t], export_wh[t], terms, tally)
    return tally
