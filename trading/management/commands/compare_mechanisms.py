"""`manage.py compare_mechanisms --homes 40 --days 14`: the same simulated NZ community cleared
under each pricing mechanism, settled, and compared. Prints one JSON line per mechanism:
traded kWh, mean price, the community's saving against retailer-only bills, and how the saving
splits between buyers and sellers.

Homes come from the household model (Auckland, a realistic PV/battery/EV mix); each half hour a
home with surplus offers it at buy-back plus 1-9 c and a home short of energy bids for its need at
its retail price less 1-9 c; each home has its own margin (perfect foresight: the point is to compare mechanisms, not forecasts).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
from django.core.management.base import BaseCommand, CommandParser

from metering.household_model import HouseSpec, simulate
from trading.engine import Book, Mechanism, Rules, clear
from trading.engine.settlement import IcpPeriod, settle, trade_rows

RETAIL_UNITS, BUYBACK_UNITS = 290_000, 120_000  # 29 c and 12 c/kWh excl. GST


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--homes", type=int, default=40)
        parser.add_argument("--days", type=int, default=14)
        parser.add_argument("--start", default="2026-01-05", help="first day (summer by default)")

    def handle(self, *args: Any, homes: int, days: int, start: str, **options: Any) -> None:
        first = dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC)
        end = first + dt.timedelta(days=days)
        houses = [
            simulate(
                HouseSpec(
                    -36.9 + (i % 7) * 0.002,
                    174.81,
                    1000 + i,
                    pv_kwp=[0, 3.3, 5.0, 6.6, 0][i % 5],
                    inverter_kw=5.0,
                    battery_kwh=13.5 if i % 4 == 0 else 0,
                    battery_kw=5.0,
                    ev_kwh=60 if i % 5 == 2 else 0,
                    ev_charger_kw=7.4,
                ),
                first,
                end,
            )
            for i in range(homes)
        ]
        # Each home's own appetite: buyers bid 1-9 c under retail, sellers ask 1-9 c over buy-back.
        rng = np.random.default_rng(7)
        self.bid = RETAIL_UNITS - rng.integers(1, 10, homes) * 10_000
        self.ask = BUYBACK_UNITS + rng.integers(1, 10, homes) * 10_000
        imports = np.round(np.array([h.grid_import for h in houses]) * 1000).astype(np.int64)
        exports = np.round(np.array([h.grid_export for h in houses]) * 1000).astype(np.int64)
        for mechanism in Mechanism:
            rules = Rules(
                mechanism,
                coop_fee_c=Decimal("0.5"),
                network_c=Decimal(4),
                same_feeder_network_c=Decimal(2),
                time_value_c=Decimal(1),
                retail_import_c=Decimal(29),
                buyback_c=Decimal(12),
            )
            self.stdout.write(json.dumps(self.run(mechanism, rules, imports, exports)))

    def run(
        self,
        mechanism: Mechanism,
        rules: Rules,
        imports: npt.NDArray[np.int64],
        exports: npt.NDArray[np.int64],
    ) -> dict:
        homes, periods = imports.shape
        traded = value = saving = buyer_saving = seller_saving = 0
        for t in range(periods):
            sellers = np.flatnonzero(exports[:, t] > 0)
            buyers = np.flatnonzero(imports[:, t] > 0)
            ids = np.concatenate((buyers, sellers))
            book = Book(
                order_id=np.arange(1, len(ids) + 1, dtype=np.int64),
                is_buy=np.concatenate((np.ones(len(buyers), bool), np.zeros(len(sellers), bool))),
                wh=np.concatenate((imports[buyers, t], exports[sellers, t])),
                price=np.concatenate((self.bid[buyers], self.ask[sellers])).astype(np.int64),
                submitted=np.zeros(len(ids), dtype=np.int64),
                feeder=ids % 2,
            )
            if len(ids) == 0:
                continue
            result = clear(book, rules)
            home_of = dict(zip(book.order_id.tolist(), ids.tolist(), strict=True))
            b = [home_of[int(i)] for i in result.buy_id]
            s = [home_of[int(i)] for i in result.sell_id]
            settlement = settle(
                trade_rows(result, b, s, b, s),
                {
                    h: IcpPeriod(
                        h, int(imports[h, t]), int(exports[h, t]), RETAIL_UNITS, BUYBACK_UNITS
                    )
                    for h in range(homes)
                },
            )
            traded += int(result.wh.sum())
            value += int(result.energy_value.sum())
            for m in settlement.members.values():
                gain = m.net_amount - m.retailer_only
                saving += gain
                if m.bought_wh:
                    buyer_saving += gain
                if m.sold_wh:
                    seller_saving += gain
        return {
            "mechanism": mechanism.value,
            "homes": homes,
            "half_hours": periods,
            "traded_kwh": round(traded / 1000, 1),
            "mean_price_c": round(value / traded / 10, 2) if traded else None,
            "community_saving_nzd": round(saving / 1e6, 2),
            "buyers_saving_nzd": round(buyer_saving / 1e6, 2),
            "sellers_saving_nzd": round(seller_saving / 1e6, 2),
        }
