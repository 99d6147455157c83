"""`python -m trading.engine.bench --orders 100000,1000000`: clearing speed, one JSON line per
mechanism and size. Times the clearing only (the book is already columns), best of 3 runs."""

from __future__ import annotations

import argparse
import json
import time
from decimal import Decimal

import numpy as np

from trading.engine.book import Book, Mechanism, Rules
from trading.engine.clearing import ClearingResult, clear


def co_op_book(n: int, seed: int = 1) -> Book:
    """A book shaped like a co-op's: 0.05-5 kWh orders, limits of 8-35 c/kWh, about five orders
    per member (their ICPs and standing orders). Most members are on one side in a half hour;
    2% of orders are on a member's other side (a battery), so some cross the member's own."""
    rng = np.random.default_rng(seed)
    members = max(n // 5, 1)
    member = rng.integers(1, members + 1, n, dtype=np.int64)
    buyer_member = rng.random(members + 1) < 0.5
    is_buy = buyer_member[member] ^ (rng.random(n) < 0.02)
    # Buyers value energy nearer retail, sellers nearer buy-back, with a wide overlap.
    price_c = np.where(is_buy, rng.uniform(12, 35, n), rng.uniform(8, 30, n))
    return Book(
        order_id=np.arange(1, n + 1, dtype=np.int64),
        is_buy=is_buy,
        wh=rng.integers(50, 5_001, n, dtype=np.int64),
        price=np.round(price_c * 100).astype(np.int64) * 100,
        submitted=rng.integers(0, 1_800_000_000, n, dtype=np.int64),
        feeder=rng.integers(0, 4, n, dtype=np.int64),
        member=member,
    )


RULES = {
    Mechanism.UNIFORM: Rules(
        Mechanism.UNIFORM,
        coop_fee_c=Decimal("0.5"),
        network_c=Decimal(4),
        same_feeder_network_c=Decimal(2),
    ),
    Mechanism.PAY_AS_BID: Rules(Mechanism.PAY_AS_BID, coop_fee_c=Decimal("0.5")),
    Mechanism.MID_MARKET: Rules(
        Mechanism.MID_MARKET, retail_import_c=Decimal(29), buyback_c=Decimal(12)
    ),
    Mechanism.TIME_VALUE: Rules(Mechanism.TIME_VALUE, time_value_c=Decimal("3.5")),
}


def run(n: int, mechanism: Mechanism, repeats: int = 3) -> dict:
    book = co_op_book(n)
    best = float("inf")
    result: ClearingResult | None = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = clear(book, RULES[mechanism])
        best = min(best, time.perf_counter() - start)
    assert result is not None, "repeats must be at least 1"
    return {
        "mechanism": mechanism.value,
        "orders": n,
        "trades": result.trade_count,
        "seconds": round(best, 4),
        "orders_per_second": round(n / best),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", default="100000,1000000", help="sizes, comma separated")
    parser.add_argument("--mechanism", choices=[m.value for m in Mechanism], action="append")
    args = parser.parse_args(argv)
    mechanisms = [Mechanism(m) for m in args.mechanism] if args.mechanism else list(Mechanism)
    for n in (int(x) for x in args.orders.split(",")):
        for mechanism in mechanisms:
            print(json.dumps(run(n, mechanism)), flush=True)


if __name__ == "__main__":
    main()
