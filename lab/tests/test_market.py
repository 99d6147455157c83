"""The lab's settlement is the live market's: same engine, same rules, every period to zero."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from lab.core import market
from lab.core.calendar import calendar
from lab.core.results import Design
from lab.core.scenario import parse
from trading.engine import Book, clear
from trading.engine.settlement import IcpPeriod, settle, trade_rows

MINIMAL = "name: ok\nspan: {from: 2026-06-01, to: 2026-06-02}\ndata: {synthetic_prices: true}\n"
H = 40


@pytest.fixture
def world():
    scenario = parse(MINIMAL)
    cal = calendar(scenario.first, scenario.last)
    tariffs = dict(scenario.tariffs)
    homes = ["flat" if i % 3 else "tou" for i in range(H)]
    table = market.tariff_table(cal, tariffs, homes)
    rng = np.random.default_rng(3)
    feeders = 3
    network = market.Network(
        feeder=np.arange(H) % feeders,
        transformer=(np.arange(H) % feeders) // 2,
        import_units=rng.integers(40_000, 200_000, (feeders, cal.periods)),
        credit_units=rng.integers(0, 30_000, (feeders, cal.periods)),
    )
    fees = market.Fees(5_000, 40_000, 20_000, 10_000)
    # Each home is either short or long each period: what its meter reads.
    net = rng.integers(-1500, 1500, (cal.periods, H))
    imports, exports = np.maximum(net, 0), np.maximum(-net, 0)
    margins = (rng.integers(1, 10, H) * 10_000, rng.integers(1, 10, H) * 10_000)
    return cal, market.Terms(table, network, fees, *margins), imports, exports


def test_tariffs_are_priced_per_period_excluding_gst(world):
    cal, terms, *_ = world
    table = terms.tariff
    # 2026-06-01 is a Monday: 07:00-07:30 NZST is the time-of-use peak, 41 c incl. GST.
    peak = int(np.flatnonzero(cal.slot == 14)[0])
    assert table.import_units[0, peak] == round(Decimal("41") / Decimal("1.15"), 4) * 10_000
    assert table.import_units[1, peak] == round(Decimal("33.5") / Decimal("1.15"), 4) * 10_000
    assert table.lines_units[1, peak] == round(Decimal("14") / Decimal("1.15"), 4) * 10_000
    assert table.buyback_units[0] == 120_000  # buy-back is quoted excluding GST


@pytest.mark.parametrize("mechanism", ["uniform", "pay_as_bid", "mid_market", "time_value"])
def test_each_member_settles_as_the_live_engine_settles_them(world, mechanism):
    cal, terms, imports, exports = world
    table, network = terms.tariff, terms.network
    design = Design(mechanism, "none", False)
    for t in (0, 17, 36, cal.periods - 1):
        tally = market.Tally(H, 1, cal.periods)
        market.settle_period(design, t, 0, imports[t], exports[t], terms, tally)
        # The same period through the live engine's clearing and settlement, member by member.
        bid, ask = market.limits(design, t, terms)
        b, s = np.flatnonzero(imports[t] > 0), np.flatnonzero(exports[t] > 0)
        rows = np.concatenate((b, s))
        book = Book(
            order_id=rows + 1,
            is_buy=np.concatenate((np.ones(len(b), bool), np.zeros(len(s), bool))),
            wh=np.concatenate((imports[t][b], exports[t][s])),
            price=np.concatenate((bid[b], ask[s])),
            submitted=np.zeros(len(rows), dtype=np.int64),
            feeder=network.feeder[rows],
            member=rows + 1,
            transformer=network.transformer[rows],
        )
        result = clear(book, market._rules(design, t, terms))
        ids_b, ids_s = result.buy_id.tolist(), result.sell_id.tolist()
        live = settle(
            trade_rows(result, ids_b, ids_s, ids_b, ids_s),
            {
                h + 1: IcpPeriod(
                    h + 1,
                    int(imports[t][h]),
                    int(exports[t][h]),
                    int(table.import_units[h, t]),
                    int(table.buyback_units[h]),
                )
                for h in range(H)
            },
        )
        assert result.trade_count > 0
        for h in range(H):
            assert tally.amount[h] == live.members[h + 1].net_amount, (mechanism, t, h)
        assert tally.bought_wh.sum() == result.wh.sum()
        assert tally.periods_balanced == 1


@pytest.mark.parametrize("time_value", [False, True])
def test_every_period_of_every_design_sums_to_zero(world, time_value):
    cal, terms, imports, exports = world
    for mechanism in ("retailer_only", "uniform", "pay_as_bid", "mid_market", "time_value"):
        design = Design(mechanism, "none", time_value)
        months = np.zeros(cal.periods, dtype=np.int64)
        tally = market.run_design(design, range(cal.periods), months, imports, exports, terms, 1)
        # settle_period asserts each period's transfers sum to zero before it counts it.
        assert tally.periods_balanced == cal.periods
        # The co-op's fee is 0.5 c/kWh of what was traded, within half a micro-NZD a trade.
        assert (
            abs(tally.coop_micro - tally.bought_wh.sum() * 5_000 // 1000)
            <= len(tally.p2p_wh.nonzero()[0]) * H
        )
        if mechanism == "retailer_only":
            assert tally.bought_wh.sum() == 0
            assert tally.coop_micro == 0


def test_chunks_add_up_to_the_whole_span(world):
    cal, terms, imports, exports = world
    design = Design("uniform", "none", True)
    months = np.zeros(cal.periods, dtype=np.int64)
    args = (imports, exports, terms, 1)
    whole = market.run_design(design, range(cal.periods), months, *args)
    first = market.run_design(design, range(0, 30), months, *args)
    second = market.run_design(design, range(30, cal.periods), months, *args)
    restored = market.Tally.from_arrays(first.to_arrays("x|"), "x|")
    restored.add(second)
    for name in (*market.ARRAYS, *market.SCALARS):
        assert np.array_equal(getattr(restored, name), getattr(whole, name)), name


def test_a_home_cannot_be_credited_beyond_its_meter(world):
    cal, terms, imports, exports = world
    tally = market.Tally(H, 1, cal.periods)
    # Negative metered energy is never traded: the period refuses rather than settles.
    broken = exports[0].copy()
    broken[0] = -5
    with pytest.raises(market.UnbalancedPeriod):
        market.settle_period(
            Design("uniform", "none", False), 0, 0, imports[0], broken, terms, tally
        )
    assert tally.periods == 0


def test_mid_market_midpoint_sits_between_retail_and_buyback(world):
    cal, terms, *_ = world
    rules = market._rules(Design("mid_market", "none", False), 20, terms)
    assert rules.buyback_c < rules.retail_import_c
    assert dt.date(2026, 6, 1) == cal.first
