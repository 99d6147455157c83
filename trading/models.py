"""The market's records: trading periods and their life, orders, trades, settlement lines.

Units: energy in kWh with 3 decimal places (whole Wh); prices in c/kWh excluding GST with 4
decimal places; money in NZD with 6 decimal places (whole micro-dollars, the unit the chain
commits as value_micro_nzd). All instants are UTC.

All of the market's models in one module (about 400 lines): each is short, and their relations
(period -> orders -> trades -> lines -> holds) read best together.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TypedDict

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from coop.models import ICP, Feeder, Member
from coop.tariffs import TariffError, Window, covered_slots, slot_key
from trading.timevalue.formula import ParameterError, PriceParameters


class _Digits(TypedDict):
    max_digits: int
    decimal_places: int


# Stored to the units the exchange computes in (coop.units): Wh, 1e-4 c/kWh, micro-NZD.
KWH: _Digits = {"max_digits": 12, "decimal_places": 3}
PRICE: _Digits = {"max_digits": 10, "decimal_places": 4}
NZD: _Digits = {"max_digits": 16, "decimal_places": 6}


class TradingPeriod(models.Model):
    """One half-hour NZ trading period and where it is in its life."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        GATE_CLOSED = "gate_closed", "Gate closed"
        CLEARED = "cleared", "Cleared"
        METERED = "metered", "Metered"
        SETTLED = "settled", "Settled"
        COMMITTED = "committed", "Committed on chain"

    # The order a period moves through, one state to the next and no other way:
    # trading.services.periods owns every step and refuses any move not in this list.
    # How long a period waits after it ends for every held ICP's meter data, before flagged
    # estimates stand in (trading.services.periods).
    METERING_DEADLINE = dt.timedelta(hours=2)

    LIFE = [
        State.OPEN,
        State.GATE_CLOSED,
        State.CLEARED,
        State.METERED,
        State.SETTLED,
        State.COMMITTED,
    ]

    trading_date = models.DateField(help_text="The NZ trading day (local date).")
    number = models.PositiveSmallIntegerField("TP", help_text="1 to 46, 48 or 50.")
    start = models.DateTimeField(unique=True)
    end = models.DateTimeField()
    gate_closes_at = models.DateTimeField()
    gate_closure_scheduled_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the task that closes and clears the period at its gate closure was "
        "queued (trading.services.periods.gate_closures_schedule).",
    )
    state = models.CharField(
        max_length=12, choices=State.choices, default=State.OPEN, db_index=True
    )
    state_changed_at = models.DateTimeField(auto_now_add=True)
    mechanism = models.CharField(max_length=12, blank=True)
    clearing_price_c = models.DecimalField(null=True, blank=True, **PRICE)
    network_price_c = models.DecimalField(
        "static network signal (c/kWh)",
        default=Decimal(0),
        **PRICE,
        help_text="The static schedule's signal for this period (NetworkPriceWindow): the "
        "fallback of a feeder's time-value price.",
    )
    traded_kwh = models.DecimalField(default=Decimal(0), **KWH)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["start"]
        constraints = [
            models.UniqueConstraint(fields=["trading_date", "number"], name="one_row_per_tp"),
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="tp_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trading_date} TP{self.number}"

    @property
    def period_id(self) -> int:
        """The id the chain knows this period by: yyyymmdd * 100 + TP."""
        d = self.trading_date
        return (d.year * 10_000 + d.month * 100 + d.day) * 100 + self.number


class Order(models.Model):
    class Side(models.TextChoices):
        BUY = "buy", "Buy"
        SELL = "sell", "Sell"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CANCELLED = "cancelled", "Cancelled"
        FILLED = "filled", "Filled"
        PARTIAL = "partial", "Partly filled"
        UNMATCHED = "unmatched", "Not matched"

    period = models.ForeignKey(TradingPeriod, on_delete=models.PROTECT, related_name="orders")
    # No index of its own: (member, period) below serves every lookup by member.
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    icp = models.ForeignKey(ICP, on_delete=models.PROTECT, related_name="orders")
    side = models.CharField(max_length=4, choices=Side.choices)
    energy_kwh = models.DecimalField(validators=[MinValueValidator(Decimal("0.001"))], **KWH)
    limit_price_c = models.DecimalField(**PRICE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    matched_kwh = models.DecimalField(default=Decimal(0), **KWH)
    standing_order = models.ForeignKey(
        "StandingOrder", on_delete=models.SET_NULL, null=True, blank=True, related_name="orders"
    )
    energy_plan = models.ForeignKey(
        "EnergyPlan",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="orders",
        help_text="Placed by the home energy manager from this plan.",
    )
    submitted_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["period", "submitted_at", "id"]
        # (member, period): placing an order checks the member's own orders in the period
        # (trading.services.orders), which otherwise reads all of the member's history.
        # `status` is in no index, and inserts fill each page only half (migration 0013's
        # fillfactor): the clearing sets the outcome of every order in the period, and so each
        # is a HOT update, rewriting no index entry.
        indexes = [models.Index(fields=["member", "period"])]
        constraints = [
            # A standing order places at most one order per period, however often beat runs.
            models.UniqueConstraint(
                fields=["standing_order", "period"],
                condition=Q(standing_order__isnull=False),
                name="one_order_per_standing_order_and_period",
            )
        ]

    def __str__(self) -> str:
        side = self.get_side_display()
        return f"{side} {self.energy_kwh} kWh at {self.limit_price_c} c ({self.period})"


class StandingOrder(models.Model):
    """A resident's rule that becomes an order in every matching open period."""

    class Side(models.TextChoices):
        SELL_SURPLUS = "sell", "Sell my surplus"
        BUY = "buy", "Buy"

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="standing_orders")
    icp = models.ForeignKey(ICP, on_delete=models.CASCADE, related_name="standing_orders")
    side = models.CharField(max_length=4, choices=Side.choices)
    limit_price_c = models.DecimalField(
        **PRICE, help_text="Sell at or above / buy at or below this price (c/kWh excl. GST)."
    )
    max_kwh = models.DecimalField(
        "at most (kWh per period)", validators=[MinValueValidator(Decimal("0.001"))], **KWH
    )
    days = models.CharField(max_length=40, default="All", help_text="e.g. Mon-Fri, Sat,Sun, All")
    start_time = models.TimeField(help_text="Local time the rule starts applying.")
    end_time = models.TimeField(help_text="Local time it stops; before the start wraps midnight.")
    flexible_load = models.BooleanField(
        default=False,
        help_text="A battery or EV charging window: buy in the cheapest periods of the window.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["member", "side", "start_time"]

    def __str__(self) -> str:
        return f"{self.get_side_display()} up to {self.max_kwh} kWh at {self.limit_price_c} c"


class Trade(models.Model):
    """A match between a buy and a sell order in one period."""

    class Kind(models.TextChoices):
        MARKET = "market", "open market"
        PARTNER = "partner", "shared with a partner"
        GIFT = "gift", "hardship pool gift"

    # No index of its own: the unique (period, sequence) serves every lookup by period. No
    # database constraint either: the orders it was cleared from name the period (their keys
    # keep it in existence), and Django's PROTECT refuses deleting it.
    period = models.ForeignKey(
        TradingPeriod,
        on_delete=models.PROTECT,
        related_name="trades",
        db_index=False,
        db_constraint=False,
    )
    sequence = models.PositiveIntegerField(
        help_text="Position within the period (Merkle leaf order)."
    )
    # The two orders, with no database constraint: PostgreSQL checked both keys of every trade
    # as the clearing committed, 0.1 s of a 10,000-trade clearing. What the constraint would
    # catch cannot happen: the clearing reads the orders and writes the trades in one
    # transaction, orders are never deleted by the site (cancelled instead: the admin can't
    # delete or add one) and Django's PROTECT refuses deleting one a trade names. Indexed, so
    # that PROTECT check is a lookup, not a scan of every trade.
    buy_order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="buys", db_constraint=False
    )
    sell_order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="sells", db_constraint=False
    )
    # Copies of the two orders' member and ICP, for reads by member or ICP without the join.
    # No database constraint of their own either: an order's member and ICP cannot be deleted
    # while it stands (the orders' keys), and Django's PROTECT still applies.
    buyer = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="purchases", db_constraint=False
    )
    seller = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="sales", db_constraint=False
    )
    # The ICPs' keys have no index: trades are read by ICP only within a period (settlement
    # holds), which the (period, sequence) key serves, and the two indexes were a fifth of
    # writing a 5,000-member period's 10,000 trades. The price: an admin deleting an ICP waits
    # for Django's PROTECT check to scan the trades.
    buyer_icp = models.ForeignKey(
        ICP,
        on_delete=models.PROTECT,
        related_name="purchases",
        db_constraint=False,
        db_index=False,
    )
    seller_icp = models.ForeignKey(
        ICP, on_delete=models.PROTECT, related_name="sales", db_constraint=False, db_index=False
    )
    energy_kwh = models.DecimalField(**KWH)
    price_c = models.DecimalField("energy price (c/kWh)", **PRICE)
    network_c = models.DecimalField("network charge (c/kWh)", **PRICE)
    fee_c = models.DecimalField("co-op fee (c/kWh)", **PRICE)
    energy_value_nzd = models.DecimalField(**NZD)
    network_value_nzd = models.DecimalField(**NZD)
    fee_value_nzd = models.DecimalField(**NZD)
    # Time-value pricing: what the network pays the seller for exporting into a stressed
    # feeder (0 under the other mechanisms).
    export_credit_c = models.DecimalField("export credit (c/kWh)", default=Decimal(0), **PRICE)
    export_credit_value_nzd = models.DecimalField(default=Decimal(0), **NZD)
    # How it was made: the open market, a seller's partner arrangement, or a gift through the
    # hardship pool (price 0). Settled, stated and committed like any other trade.
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.MARKET)
    # A gift whose network charge the co-op pays (CoopSettings.cover_gift_network when it was
    # cleared): recorded on the trade, so a re-settlement pays it the same way.
    network_covered_by_coop = models.BooleanField(default=False)

    class Meta:
        ordering = ["period", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["period", "sequence"], name="trade_sequence_per_period")
        ]

    def __str__(self) -> str:
        return f"{self.energy_kwh} kWh at {self.price_c} c ({self.period})"

    @property
    def buyer_pays_nzd(self) -> Decimal:
        return self.energy_value_nzd + self.network_value_nzd + self.fee_value_nzd


class SettlementAmendment(models.Model):
    """A settled (or committed) period settled again after its readings were corrected.

    Its lines (SettlementLine.amendment) are the difference between the period's lines so far
    and a fresh settlement on the corrected readings, for the same trades: the lines already
    written are never edited or deleted, so the history stays auditable, and the period's lines
    together (originals, held ICPs settled later, amendments) are what a settlement on today's
    readings would write. Written by trading.services.corrections.period_resettle only.
    """

    period = models.ForeignKey(
        TradingPeriod, on_delete=models.PROTECT, related_name="settlement_amendments"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    reason = models.TextField(help_text="What changed, naming each ICP by its number.")
    period_state = models.CharField(
        max_length=12,
        choices=TradingPeriod.State.choices,
        help_text="The period's state when it was amended (it stays in it).",
    )

    class Meta:
        ordering = ["period", "created_at", "id"]

    def __str__(self) -> str:
        return f"Amendment of {self.period} at {self.created_at:%Y-%m-%d %H:%M}Z"


class SettlementLine(models.Model):
    """One side of a transfer; each period's lines sum to exactly zero.

    Energy traded is a transfer per trade (its `trade`); a buyer's network charges and co-op fees
    are one transfer each per ICP and period, the sum of its trades' (no `trade`): each trade's
    own charges stay on the trade. Deviations with the retailer are per ICP.

    Sign: a positive amount is money the account receives, negative money it pays. A line of an
    amendment is a difference: its energy and amount are what it adds to the line of the same
    account, ICP, kind and trade (negative energy: less than first settled).
    """

    class Account(models.TextChoices):
        MEMBER = "member", "Member"
        RETAILER = "retailer", "Retailer"
        COOP = "coop", "Co-op"
        NETWORK = "network", "Network"

    class Kind(models.TextChoices):
        P2P_ENERGY = "p2p_energy", "Energy traded with a neighbour"
        NETWORK = "network", "Network charges on trades"
        COOP_FEE = "coop_fee", "Co-op fee"
        RETAIL_IMPORT = "retail_import", "Energy bought from the retailer"
        RETAIL_EXPORT = "retail_export", "Energy sold to the retailer (buy-back)"
        EXPORT_CREDIT = "export_credit", "Time-value export credit from the network"
        GIFT_NETWORK_COVER = "gift_network_cover", "Network charges on gifts, paid by the co-op"

    # A 5,000-member period settles into ~43,000 lines in one transaction, so each key and
    # index here is paid 43,000 times. The lines are read by period, or by member and period;
    # none is looked up by ICP or trade. Their keys carry no database constraint: settlement
    # writes them from the period's own trades and holdings (and an amendment's with it), read
    # in the same transaction under the period's row lock, and PostgreSQL checking four keys
    # per line as it commits took longer than computing and writing the lines together (1.5 s
    # of 2.6, at 74,000 lines). Django's PROTECT still keeps a period, member, ICP, trade or
    # amendment with lines from deletion (trading.tests.test_ledger_storage), and nothing
    # deletes a trade: the admin shows trades read-only.
    period = models.ForeignKey(
        TradingPeriod,
        on_delete=models.PROTECT,
        related_name="settlement_lines",
        db_constraint=False,
    )
    account = models.CharField(max_length=10, choices=Account.choices)
    # No index of its own: (member, period) below serves every lookup by member.
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="settlement_lines",
        db_index=False,
        db_constraint=False,
    )
    icp = models.ForeignKey(
        ICP,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="settlement_lines",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    energy_kwh = models.DecimalField(**KWH)
    amount_nzd = models.DecimalField(**NZD)
    trade = models.ForeignKey(
        Trade,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="lines",
        db_index=False,
        db_constraint=False,
    )
    amendment = models.ForeignKey(
        SettlementAmendment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="lines",
        db_index=False,  # the partial index below: a period's own lines (most) have none
        db_constraint=False,
        help_text="Empty for the period's settlement; the re-settlement this line is part of.",
    )

    class Meta:
        ordering = ["period", "id"]
        indexes = [
            # Not (period, member), though writing a period's lines into it is cheaper: a
            # period's lines would then be read in member order, each transfer's two lines
            # apart, and SQLite, which sums decimals as floating point, gave a period's total
            # a rounding error off zero.
            models.Index(fields=["member", "period"]),
            models.Index(
                fields=["amendment"],
                condition=Q(amendment__isnull=False),
                name="settlementline_amendment",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(account="member", member__isnull=False) | ~Q(account="member"),
                name="member_lines_name_the_member",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_account_display()} {self.kind} {self.amount_nzd}"


class MemberPeriodSummary(models.Model):
    """Per member and period: what was metered, traded, paid, and what the retailer alone would
    have charged. Statements add these up; derived from the settlement at settle time, and set
    to the corrected figures when the period is re-settled (SettlementAmendment)."""

    # No index of its own: the unique (period, member) serves every lookup by period. Neither
    # key has a database constraint, as on the settlement lines written with these, from the
    # same rows, under the period's lock: PostgreSQL checked both for each of a 5,000-member
    # period's summaries as the settlement committed. Django's PROTECT still refuses deleting
    # the period or member one names.
    period = models.ForeignKey(
        TradingPeriod,
        on_delete=models.PROTECT,
        related_name="summaries",
        db_index=False,
        db_constraint=False,
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="period_summaries", db_constraint=False
    )
    imported_kwh = models.DecimalField(**KWH)
    exported_kwh = models.DecimalField(**KWH)
    bought_p2p_kwh = models.DecimalField(**KWH)
    sold_p2p_kwh = models.DecimalField(**KWH)
    net_amount_nzd = models.DecimalField(
        **NZD, help_text="Sum of the member's lines (received - paid)."
    )
    retailer_only_nzd = models.DecimalField(
        **NZD, help_text="What the same metered energy would have netted with the retailer alone."
    )

    class Meta:
        ordering = ["period", "member"]
        verbose_name = "member period summary"
        verbose_name_plural = "member period summaries"
        constraints = [
            models.UniqueConstraint(
                fields=["period", "member"], name="one_summary_per_member_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.member} in {self.period}"

    @property
    def net_nzd(self) -> Decimal:
        """The totals' name for net_amount_nzd (trading.selectors.TOTALS)."""
        return self.net_amount_nzd

    @property
    def saving_nzd(self) -> Decimal:
        return self.net_amount_nzd - self.retailer_only_nzd


class SettlementHold(models.Model):
    """One ICP held aside when its period settled: no tariff in force, or no reading (no meter).

    The rest of the period settles without waiting for it, and so does the held ICP's trades
    (their counterparties are owed); only its own metered energy against what it traded, the
    deviation with its retailer, waits. It is settled and the hold resolved once the ICP is
    complete (trading.services.settling.settlement_holds_retry, every beat tick and from the
    admin). An open hold is an alarm on the admin home page, by ICP number.
    """

    period = models.ForeignKey(TradingPeriod, on_delete=models.PROTECT, related_name="holds")
    icp = models.ForeignKey(ICP, on_delete=models.PROTECT, related_name="settlement_holds")
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="settlement_holds",
        help_text="Who held the ICP in the period: the deviation is theirs when it settles.",
    )
    reason = models.TextField(help_text="Why, naming the ICP by its number.")
    created_at = models.DateTimeField(auto_now_add=True)
    checked_at = models.DateTimeField(
        null=True, blank=True, help_text="When settling it was last tried."
    )
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["period", "icp"]
        constraints = [
            models.UniqueConstraint(fields=["period", "icp"], name="one_hold_per_icp_and_period")
        ]

    def __str__(self) -> str:
        return f"{self.icp.identifier} held in {self.period}"


class NetworkPriceWindow(models.Model):
    """The distributor's static network signal: c/kWh by local time window, on top of the
    lines price.

    The fallback of time-value pricing: a feeder whose power flow cannot be built or does not
    converge for a period is priced at its lines price plus this window's signal. Under the
    other mechanisms it is the period's time-value adder, as before.
    """

    label = models.CharField(max_length=40)
    days = models.CharField(max_length=40, default="All", help_text="e.g. Mon-Fri, Sat,Sun, All")
    start_time = models.TimeField()
    end_time = models.TimeField(help_text="00:00 means midnight; before the start wraps.")
    months = models.CharField(max_length=40, default="All", help_text="e.g. Apr-Sep, All")
    price_c = models.DecimalField("network price (c/kWh)", **PRICE)

    class Meta:
        ordering = ["start_time", "id"]

    def __str__(self) -> str:
        return f"{self.label}: {self.price_c} c/kWh"

    def clean(self) -> None:

        try:
            list(
                Window(
                    self.label, self.days, self.start_time, self.end_time, self.months, self.price_c
                ).slots()
            )
        except TariffError as exc:
            raise ValidationError(str(exc)) from exc

    @classmethod
    def price_at(cls, start: dt.datetime) -> Decimal:

        key = slot_key(start)
        for row in cls.objects.all():
            window = Window(
                row.label, row.days, row.start_time, row.end_time, row.months, row.price_c
            )
            if key in covered_slots(window):
                return row.price_c
        return Decimal(0)


class IdempotencyKey(models.Model):
    """The first response to a state-changing API call, replayed for a repeated key."""

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_key_per_user")]

    def __str__(self) -> str:
        return self.key


class WholesalePrice(models.Model):
    """An NZ wholesale electricity price: NZD/MWh excluding GST, at a node, for an interval."""

    class Kind(models.TextChoices):
        DISPATCH = "dispatch", "Dispatch (real time)"
        INTERIM = "interim", "Interim"
        FINAL = "final", "Final"

    node = models.CharField(max_length=7, db_index=True)
    trading_date = models.DateField()
    trading_period = models.PositiveSmallIntegerField()
    interval_start = models.DateTimeField()
    dollars_per_mwh = models.DecimalField(max_digits=10, decimal_places=2)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    source = models.CharField(max_length=20)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-interval_start", "node"]
        constraints = [
            models.UniqueConstraint(
                fields=["node", "interval_start", "kind"], name="one_price_per_node_interval_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.node} {self.trading_date} TP{self.trading_period} ${self.dollars_per_mwh}/MWh ({self.kind})"


PARAMETER: _Digits = {"max_digits": 8, "decimal_places": 4}


class TimeValueParameters(models.Model):
    """The distributor's time-value pricing parameters, in force from a date (NZ).

    The formula is trading.timevalue.formula's; these rows are its numbers. A row is refused
    if it would make the price fall as a transformer fills or a voltage sags.
    """

    effective_from = models.DateField(unique=True)
    theta = models.DecimalField(
        "loading threshold (theta)",
        default=Decimal("0.70"),
        help_text="Fraction of rating.",
        **PARAMETER,
    )
    exponent = models.DecimalField("congestion exponent n", default=Decimal(2), **PARAMETER)
    kc = models.DecimalField("congestion weight Kc (c/kWh)", default=Decimal(40), **PARAMETER)
    v_lo = models.DecimalField("low-voltage threshold (pu)", default=Decimal("0.96"), **PARAMETER)
    kv = models.DecimalField("sag weight Kv (c/kWh)", default=Decimal(20), **PARAMETER)
    rho = models.DecimalField(
        "reverse-flow threshold (rho)",
        default=Decimal("0.20"),
        help_text="Fraction of rating.",
        **PARAMETER,
    )
    ks = models.DecimalField("solar-flood weight Ks (c/kWh)", default=Decimal(8), **PARAMETER)
    v_hi = models.DecimalField("high-voltage threshold (pu)", default=Decimal("1.04"), **PARAMETER)
    kh = models.DecimalField("swell weight Kh (c/kWh)", default=Decimal(8), **PARAMETER)
    floor_c = models.DecimalField("price floor (c/kWh)", default=Decimal(-10), **PARAMETER)
    cap_c = models.DecimalField("price cap (c/kWh)", default=Decimal(100), **PARAMETER)
    upstream_c = models.DecimalField(
        "upstream charge (c/kWh)",
        default=Decimal(2),
        help_text="Added to a trade whose seller is under another transformer.",
        **PARAMETER,
    )
    peak_export_rebate_c = models.DecimalField(
        "peak export rebate (c/kWh)",
        default=Decimal(0),
        help_text="Paid for export in the peak windows below (from 1 April 2026).",
        **PARAMETER,
    )
    rebate_days = models.CharField(max_length=40, default="Mon-Fri")
    rebate_windows = models.CharField(
        max_length=80,
        default="07:00-11:00, 17:00-21:00",
        help_text="Local times, comma-separated, e.g. 07:00-11:00, 17:00-21:00.",
    )
    rebate_months = models.CharField(max_length=40, default="All")
    revenue_neutral = models.BooleanField(
        default=False,
        help_text="Shift every import price by one amount so the forecast network revenue "
        "equals what the static lines prices would have collected.",
    )

    class Meta:
        ordering = ["-effective_from"]
        verbose_name = "time-value parameters"
        verbose_name_plural = "time-value parameters"

    def __str__(self) -> str:
        return f"Time-value parameters from {self.effective_from}"

    # The model's fields by the formula's names, for ParameterError.field.
    FORMULA_FIELDS = {
        "theta": "theta",
        "n": "exponent",
        "kc": "kc",
        "v_lo": "v_lo",
        "kv": "kv",
        "rho": "rho",
        "ks": "ks",
        "v_hi": "v_hi",
        "kh": "kh",
        "floor_c": "floor_c",
        "cap_c": "cap_c",
    }

    def formula(self) -> PriceParameters:
        return PriceParameters(
            **{name: float(getattr(self, field)) for name, field in self.FORMULA_FIELDS.items()}
        )

    def windows(self) -> list[Window]:
        """The rebate's windows; TariffError says what is wrong with the text."""
        result = []
        for part in filter(None, (p.strip() for p in self.rebate_windows.split(","))):
            try:
                start, end = (dt.time.fromisoformat(t.strip()) for t in part.split("-"))
            except ValueError as exc:
                raise TariffError(f"{part!r} is not a window like 17:00-21:00") from exc
            result.append(
                Window(
                    "Peak export",
                    self.rebate_days,
                    start,
                    end,
                    self.rebate_months,
                    self.peak_export_rebate_c,
                )
            )
        return result

    def clean(self) -> None:
        if any(getattr(self, f) is None for f in self.FORMULA_FIELDS.values()):
            return  # the field errors say which
        try:
            self.formula().validate()
        except ParameterError as exc:
            raise ValidationError({self.FORMULA_FIELDS.get(exc.field, "theta"): str(exc)}) from exc
        if self.upstream_c is not None and self.upstream_c < 0:
            raise ValidationError({"upstream_c": "The upstream charge cannot be negative."})
        if self.peak_export_rebate_c is not None and self.peak_export_rebate_c < 0:
            raise ValidationError({"peak_export_rebate_c": "A rebate cannot be negative."})
        try:
            for window in self.windows():
                list(window.slots())
        except TariffError as exc:
            raise ValidationError({"rebate_windows": str(exc)}) from exc

    def rebate_at(self, start: dt.datetime) -> Decimal:
        key = slot_key(start)
        if any(key in covered_slots(w) for w in self.windows()):
            return self.peak_export_rebate_c
        return Decimal(0)

    @classmethod
    def in_force(cls, day: dt.date) -> TimeValueParameters:
        """The row in force on `day`; the documented defaults if the distributor has none."""
        row = cls.objects.filter(effective_from__lte=day).order_by("-effective_from").first()
        return row or cls(effective_from=day)


class FeederPrice(models.Model):
    """A feeder's time-value network price for one trading period, with the forecast power
    flow it came from. Recomputed each hour while the period is open; firm from gate
    closure, when it is the price the period trades on."""

    class Source(models.TextChoices):
        POWER_FLOW = "power_flow", "Power flow"
        STATIC = "static", "Static schedule (fallback)"

    feeder = models.ForeignKey(Feeder, on_delete=models.CASCADE, related_name="prices")
    period = models.ForeignKey(
        TradingPeriod, on_delete=models.CASCADE, related_name="feeder_prices"
    )
    forecast_kw = models.DecimalField(max_digits=9, decimal_places=2)
    loading_pct = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    v_min_pu = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    v_max_pu = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    reverse_flow_kw = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    losses_kw = models.DecimalField(max_digits=9, decimal_places=3, null=True, blank=True)
    base_c = models.DecimalField("lines price (c/kWh)", **PRICE)
    price_c = models.DecimalField("import price (c/kWh)", **PRICE)
    export_credit_c = models.DecimalField("export credit (c/kWh)", **PRICE)
    source = models.CharField(max_length=10, choices=Source.choices)
    note = models.CharField(max_length=300, blank=True, help_text="Why it fell back.")
    rounds = models.PositiveSmallIntegerField(default=1)
    computed_at = models.DateTimeField()
    firm = models.BooleanField(default=False, help_text="Fixed at gate closure.")

    class Meta:
        ordering = ["period", "feeder"]
        constraints = [
            models.UniqueConstraint(fields=["feeder", "period"], name="one_price_per_feeder_period")
        ]

    def __str__(self) -> str:
        return f"{self.feeder} {self.period}: {self.price_c} c/kWh"


# The home energy manager's models live in their own module; Django finds them here.
from trading.energy_models import EnergyManager, EnergyPlan, EVHabit  # noqa: E402, F401
from trading.sharing_models import (  # noqa: E402, F401
    GiftPledge,
    HardshipRecipient,
    PartnerCode,
    Partnership,
)
