"""One trading period's order book, as columns, and the rules the co-op clears it with."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from coop.units import cents_to_units, kwh_to_wh


class Mechanism(StrEnum):
    UNIFORM = "uniform"  # uniform-price double auction, pay as clear
    PAY_AS_BID = "pay_as_bid"  # discriminatory: each match priced between its own limits
    MID_MARKET = "mid_market"  # bill sharing at the midpoint of retail and buy-back
    TIME_VALUE = "time_value"  # uniform auction; each trade pays its path's time-value price


class BookError(ValueError):
    """A book the engine refuses: inconsistent columns or impossible values."""


# The default of a Book column that is not given (member, icp): one shared marker, replaced by
# zeros ("not known") of the book's length in Book.__post_init__, so never seen outside it.
_NOT_GIVEN: np.ndarray = np.zeros(0, dtype=np.int64)


def _not_given() -> np.ndarray:
    return _NOT_GIVEN


@dataclass(frozen=True)
class Order:
    """One order as people write it (Decimal kWh and c/kWh)."""

    order_id: int
    side: str  # "buy" or "sell"
    kwh: Decimal
    limit_c: Decimal
    member_id: int = 0  # who placed it; 0 = not known (research books), see Book.member
    icp_id: int = 0
    feeder_id: int = 0
    transformer_id: int = 0
    submitted: int = 0  # any monotonic clock, e.g. epoch microseconds


@dataclass(frozen=True)
class Book:
    """Columns of one period's orders. Prices in 1e-4 c/kWh units, energy in Wh.

    `member` is who placed each order (the owner, whatever ICP it is on): the engine never
    matches a member with themselves. Member ids are positive; 0 (the default) means not known,
    as in research books of anonymous households, and such orders are never taken as one
    member's.
    """

    order_id: np.ndarray
    is_buy: np.ndarray
    wh: np.ndarray
    price: np.ndarray
    submitted: np.ndarray
    feeder: np.ndarray
    member: np.ndarray = field(default_factory=_not_given)
    icp: np.ndarray = field(default_factory=_not_given)
    transformer: np.ndarray = field(default_factory=_not_given)

    def __post_init__(self) -> None:
        n = len(self.order_id)
        for name in ("member", "icp", "transformer"):
            given = getattr(self, name)
            if given is None or given is _NOT_GIVEN:
                object.__setattr__(self, name, np.zeros(n, dtype=np.int64))
        columns = (
            self.is_buy,
            self.wh,
            self.price,
            self.submitted,
            self.feeder,
            self.member,
            self.icp,
            self.transformer,
        )
        if any(len(c) != n for c in columns):
            raise BookError("every column of a book must have one value per order")
        if n and int(self.wh.min()) <= 0:
            raise BookError("every order must be for a positive whole number of Wh")
        if n and len(np.unique(self.order_id)) != n:
            raise BookError("order ids must be unique within a book")

    def __len__(self) -> int:
        return len(self.order_id)

    @classmethod
    def from_orders(cls, orders: Sequence[Order]) -> Book:
        for order in orders:
            if order.side not in ("buy", "sell"):
                raise BookError(f"order {order.order_id}: side must be buy or sell")

        def col(values: Iterable[int], dtype: npt.DTypeLike = np.int64) -> np.ndarray:
            return np.fromiter(values, dtype=dtype, count=len(orders))

        return cls(
            order_id=col(o.order_id for o in orders),
            is_buy=col((o.side == "buy" for o in orders), bool),
            wh=col(kwh_to_wh(o.kwh) for o in orders),
            price=col(cents_to_units(o.limit_c) for o in orders),
            submitted=col(o.submitted for o in orders),
            feeder=col(o.feeder_id for o in orders),
            member=col(o.member_id for o in orders),
            icp=col(o.icp_id for o in orders),
            transformer=col(o.transformer_id for o in orders),
        )


@dataclass(frozen=True)
class Rules:
    """The co-op's clearing rules for one period (c/kWh, excluding GST)."""

    mechanism: Mechanism = Mechanism.UNIFORM
    k: Decimal = Decimal("0.5")
    coop_fee_c: Decimal = Decimal(0)
    network_c: Decimal = Decimal(0)
    same_feeder_network_c: Decimal = Decimal(0)
    time_value_c: Decimal = Decimal(0)
    retail_import_c: Decimal = Decimal(0)
    buyback_c: Decimal = Decimal(0)
    # Time-value pricing per feeder, indexed by the book's feeder numbers: the buyer's feeder
    # import price is the trade's network charge (plus `upstream_c` across transformers) and
    # the seller's feeder export credit is paid to the seller. Empty: the flat charges above,
    # plus `time_value_c` (research books with one signal for the whole community).
    feeder_import_c: tuple[Decimal, ...] = ()
    feeder_export_credit_c: tuple[Decimal, ...] = ()
    upstream_c: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.k <= Decimal(1):
            raise BookError("k must be between 0 and 1")
        if self.mechanism == Mechanism.MID_MARKET and self.retail_import_c < self.buyback_c:
            raise BookError("mid-market needs a retail import price at or above the buy-back")
        if len(self.feeder_import_c) != len(self.feeder_export_credit_c):
            raise BookError("every feeder needs both an import price and an export credit")
        if any(c < 0 for c in self.feeder_export_credit_c):
            raise BookError("an export credit cannot be negative")
