"""The distributor's time-value network prices: computed from a forecast power flow of the
co-op's LV network for every feeder and open trading period of the next 48 h, recomputed each
hour, and firm at gate closure (the price a period trades on never changes after it).

A feeder the power flow cannot price (no transformer, a model the flow refuses, a period that
does not converge) takes the static schedule for that period: its lines price plus the
period's `NetworkPriceWindow` signal. The admin's alarms list every such fallback that is in
force; the market never waits for a power flow.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from statistics import mean
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from coop.models import CoopSettings, Feeder, Tariff
from coop.selectors import current_tariff_filter
from coop.tariffs import TariffSpec
from trading.models import FeederPrice, TimeValueParameters, TradingPeriod
from trading.services import network_forecast
from trading.services.energy_manager import horizon_starts, planned_grid_kw
from trading.timevalue import formula, grid

log = logging.getLogger(__name__)

C4 = Decimal("0.0001")
HORIZON = dt.timedelta(hours=48)
MAX_ROUNDS = 5
SETTLED_C = 0.1  # c/kWh: prices that move less than this between rounds have settled


@dataclass(frozen=True)
class Published:
    periods: int
    feeders: int
    fallbacks: int  # (feeder, period) pairs priced from the static schedule
    seconds: float


def _c(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(C4)


def _d(value: float, places: str) -> Decimal | None:
    return None if not np.isfinite(value) else Decimal(repr(float(value))).quantize(Decimal(places))


def lines_prices(feeders: Sequence[Feeder], periods: Sequence[TradingPeriod]) -> np.ndarray:
    """c/kWh (feeders x periods): the distributor's static lines price, the mean of the lines
    windows of the tariffs of each feeder's ICPs (0 where a feeder has none)."""
    result = np.zeros((len(feeders), len(periods)))
    by_feeder: dict[tuple[int | None, dt.date], list[TariffSpec]] = defaultdict(list)
    days = {p.trading_date for p in periods}
    for day in sorted(days):
        tariffs = (
            Tariff.objects.filter(current_tariff_filter(day), icp__feeder__in=feeders)
            .select_related("icp")
            .prefetch_related("rates")
        )
        for tariff in tariffs:
            by_feeder[(tariff.icp.feeder_id, day)].append(tariff.spec())
    for row, feeder in enumerate(feeders):
        for col, period in enumerate(periods):
            specs = by_feeder.get((feeder.pk, period.trading_date))
            if specs:
                result[row, col] = float(mean(s.prices_at(period.start).lines_c for s in specs))
    return result


def _static(base_c: float, signal_c: Decimal, rebate_c: Decimal) -> tuple[Decimal, Decimal]:
    """The fallback: the lines price plus the static signal; the positive signal and the
    rebate as the export credit."""
    return _c(base_c) + signal_c, max(signal_c, Decimal(0)) + rebate_c


@dataclass(frozen=True)
class _Priced:
    """One day's prices (feeders x that day's periods) from the power flow."""

    price: np.ndarray
    credit: np.ndarray


def _price_day(
    flows: grid.FlowResults,
    rows: list[int | None],
    ratings: np.ndarray,
    columns: np.ndarray,
    base: np.ndarray,
    rebate: np.ndarray,
    params: TimeValueParameters,
) -> _Priced:
    """The formula on one day's columns (one parameter row is in force for a day). Rows not in
    the flow, and periods that did not converge, are NaN: the caller falls back there."""
    shape = (len(rows), len(columns))
    price, credit = np.full(shape, np.nan), np.full(shape, np.nan)
    index = [r for r in rows if r is not None]
    if not index:
        return _Priced(price, credit)
    mine = np.array([r is not None for r in rows])
    take = np.ix_(np.array(index), columns)
    ok = flows.converged[take]
    # The formula refuses NaN (a failed flow must not become a price): periods that did not
    # converge get quiet inputs here and are masked out below.
    sig = formula.signal(
        np.where(ok, flows.loading_pct[take], 0.0) / 100,
        np.where(ok, flows.v_min_customer_pu[take], 1.0),
        np.where(ok, flows.v_max_customer_pu[take], 1.0),
        np.where(ok, flows.reverse_flow_kw[take], 0.0) / ratings[mine][:, None],
        params.formula(),
    )
    adjust = 0.0
    base_here = base[mine][:, columns]
    if params.revenue_neutral:
        net = np.where(ok, flows.net_kw[take], 0.0) * 0.5  # kWh per half hour
        adjust = formula.revenue_neutral_adjustment(
            np.maximum(net, 0),
            np.maximum(-net, 0),
            base_here,
            sig,
            np.broadcast_to(rebate[columns], base_here.shape),
            base_here,
            params.formula(),
        )
    day_price = formula.import_price(base_here, sig, params.formula(), adjust)
    day_credit = formula.export_credit(
        sig, np.broadcast_to(rebate[columns], base_here.shape), params.formula().cap_c
    )
    price[mine] = np.where(ok, day_price, np.nan)
    credit[mine] = np.where(ok, day_credit, np.nan)
    return _Priced(price, credit)


def _merged(
    full: grid.FlowResults, part: grid.FlowResults, columns: np.ndarray
) -> grid.FlowResults:
    """`full` with `part` (the same network's flow for `columns` only) put in its place."""
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(full):
        value = getattr(full, field.name)
        if isinstance(value, np.ndarray):
            value = value.copy()
            value[:, columns] = getattr(part, field.name)
            changes[field.name] = value
    return dataclasses.replace(full, **changes)


def prices_compute(
    periods: Sequence[TradingPeriod],
    *,
    now: dt.datetime,
    feeders: Sequence[Feeder] | None = None,
    iterate: bool | None = None,
) -> list[FeederPrice]:
    """FeederPrice rows (not saved) for every feeder and period: from the power flow where it
    can be had, else the static schedule (with the reason in `note`). With `iterate` (by
    default: under the time-value mechanism, when homes have opted in to the energy manager)
    the managed homes' planned schedules go back into the flow until the prices settle."""
    if iterate is None:
        iterate = CoopSettings.load().mechanism == CoopSettings.Mechanism.TIME_VALUE
    feeder_rows = list(
        feeders if feeders is not None else Feeder.objects.select_related("transformer")
    )
    if not periods or not feeder_rows:
        return []
    model = network_forecast.network_model(feeder_rows)
    base = lines_prices(feeder_rows, periods)
    days = sorted({p.trading_date for p in periods})
    params_by_day = {d: TimeValueParameters.in_force(d) for d in days}
    rebate = np.array([float(params_by_day[p.trading_date].rebate_at(p.start)) for p in periods])
    starts = [p.start for p in periods]
    ratings = np.array(
        [float(f.transformer.rating_kva) if f.transformer else 1.0 for f in feeder_rows]
    )

    def flows_of(
        planned: dict[int, np.ndarray] | None, columns: np.ndarray
    ) -> grid.FlowResults | str:
        """The power flow of the forecast (with `planned` homes' schedules) for `columns`; a
        failure's reason instead (a power flow that fails must never stop the market)."""
        try:
            net_kw = network_forecast.net_load_kw(model, starts, now=now, planned=planned)
            return grid.solve(model.network, net_kw[:, columns])
        except Exception as exc:
            log.exception("time-value power flow failed for %d feeders", len(model.feeders))
            return f"The power flow failed: {exc}"[:300]

    def prices_of(flows: grid.FlowResults) -> tuple[list[int | None], np.ndarray, np.ndarray]:
        rows: list[int | None] = [
            flows.feeders.index(f"f{f.pk}") if f"f{f.pk}" in flows.feeders else None
            for f in feeder_rows
        ]
        price = np.full(base.shape, np.nan)
        credit = np.full(base.shape, np.nan)
        for day in days:
            columns = np.array([i for i, p in enumerate(periods) if p.trading_date == day])
            priced = _price_day(flows, rows, ratings, columns, base, rebate, params_by_day[day])
            price[:, columns] = priced.price
            credit[:, columns] = priced.credit
        return rows, price, credit

    flows: grid.FlowResults | None = None
    flow_rows: list[int | None] = [None] * len(feeder_rows)
    price = np.full(base.shape, np.nan)
    credit = np.full(base.shape, np.nan)
    failure = ""
    rounds = 1
    if model.network.feeders:
        first = flows_of(None, np.arange(len(periods)))
        if isinstance(first, str):
            failure = first
        else:
            flows = first
            flow_rows, price, credit = prices_of(flows)
    planned_starts = set(horizon_starts(now))
    managed = np.array([i for i, s in enumerate(starts) if s in planned_starts])
    if flows is not None and iterate and len(managed):
        # Prices -> the homes' schedules -> flows -> prices, damped (half old, half new) so it
        # does not oscillate, until no price moves by SETTLED_C or MAX_ROUNDS. Only the periods
        # the managers plan are flowed again; the others keep the first round's.
        for rounds in range(2, MAX_ROUNDS + 1):
            offered = {
                (feeder.pk, period.start): (price[r, c], credit[r, c])
                for r, feeder in enumerate(feeder_rows)
                for c, period in enumerate(periods)
                if np.isfinite(price[r, c])
            }
            planned = planned_grid_kw(starts, offered, now=now)
            again = flows_of(planned, managed) if planned else "nothing planned"
            if isinstance(again, str):
                rounds -= 1
                break
            flows = _merged(flows, again, managed)
            flow_rows, new_price, new_credit = prices_of(flows)
            damped = np.where(np.isfinite(price), 0.5 * price + 0.5 * new_price, new_price)
            moved = np.abs(damped - price)
            change = float(np.nanmax(moved)) if np.isfinite(moved).any() else 0.0
            price = damped
            credit = np.where(np.isfinite(credit), 0.5 * credit + 0.5 * new_credit, new_credit)
            log.info("time-value round %d: prices moved by up to %.3f c/kWh", rounds, change)
            if change < SETTLED_C:
                break
    result: list[FeederPrice] = []
    for r, feeder in enumerate(feeder_rows):
        f = flow_rows[r]
        for c, period in enumerate(periods):
            row = FeederPrice(
                feeder=feeder,
                period=period,
                forecast_kw=Decimal(0),
                base_c=_c(base[r, c]),
                computed_at=now,
                rounds=rounds,
            )
            if f is not None and flows is not None:
                row.forecast_kw = _d(flows.net_kw[f, c], "0.01") or Decimal(0)
                row.loading_pct = _d(flows.loading_pct[f, c], "0.1")
                row.v_min_pu = _d(flows.v_min_customer_pu[f, c], "0.0001")
                row.v_max_pu = _d(flows.v_max_customer_pu[f, c], "0.0001")
                row.reverse_flow_kw = _d(flows.reverse_flow_kw[f, c], "0.01")
                row.losses_kw = _d(flows.losses_kw[f, c], "0.001")
            if np.isfinite(price[r, c]):
                row.price_c, row.export_credit_c = _c(price[r, c]), _c(credit[r, c])
                row.source = FeederPrice.Source.POWER_FLOW
            else:
                row.price_c, row.export_credit_c = _static(
                    base[r, c], period.network_price_c, _c(rebate[c])
                )
                row.source = FeederPrice.Source.STATIC
                if f is not None:
                    row.note = f"The power flow did not converge for {period}."
                    log.warning("feeder %s, %s: the power flow did not converge", feeder, period)
                else:
                    row.note = model.left_out.get(feeder.pk) or failure or "Not in the power flow."
            result.append(row)
    return result


FIELDS = [
    "forecast_kw",
    "loading_pct",
    "v_min_pu",
    "v_max_pu",
    "reverse_flow_kw",
    "losses_kw",
    "base_c",
    "price_c",
    "export_credit_c",
    "source",
    "note",
    "rounds",
    "computed_at",
]


def feeder_prices_publish(
    *, now: dt.datetime | None = None, iterate: bool | None = None
) -> Published:
    """Price every feeder for every open period of the next 48 h. Idempotent; never touches a
    firm price (a period past gate closure keeps what it traded on)."""
    started = timezone.now()
    now = now or started
    periods = list(
        TradingPeriod.objects.filter(
            state=TradingPeriod.State.OPEN, start__lt=now + HORIZON, end__gt=now
        ).order_by("start")
    )
    rows = prices_compute(periods, now=now, iterate=iterate)
    with transaction.atomic():
        # Only periods still open are rewritten: one that closed while this ran is firm.
        still_open = set(
            TradingPeriod.objects.select_for_update()
            .filter(pk__in=[p.pk for p in periods], state=TradingPeriod.State.OPEN)
            .values_list("pk", flat=True)
        )
        rows = [r for r in rows if r.period_id in still_open]
        FeederPrice.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["feeder", "period"],
            update_fields=FIELDS,
            batch_size=2000,
        )
    fallbacks = sum(r.source == FeederPrice.Source.STATIC for r in rows)
    if fallbacks:
        log.warning("time-value prices: %d feeder periods on the static schedule", fallbacks)
    return Published(
        periods=len(still_open),
        feeders=len({r.feeder_id for r in rows}),
        fallbacks=fallbacks,
        seconds=(timezone.now() - started).total_seconds(),
    )


def feeder_prices_firm(*, period: TradingPeriod) -> None:
    """At gate closure: every feeder's price for the period becomes firm. A feeder never
    priced (the publisher has not run since the feeder or the period appeared) takes the
    static schedule: no power flow runs inside the gate's transaction. Call inside it."""
    have = set(FeederPrice.objects.filter(period=period).values_list("feeder_id", flat=True))
    missing = list(Feeder.objects.exclude(pk__in=have))
    if missing:
        log.warning("%s: %d feeders had no published price at gate closure", period, len(missing))
        FeederPrice.objects.bulk_create(
            static_prices(period, missing, "No price was published before gate closure."),
            ignore_conflicts=True,
        )
    FeederPrice.objects.filter(period=period).update(firm=True)


def static_prices(period: TradingPeriod, feeders: Sequence[Feeder], note: str) -> list[FeederPrice]:
    """The static schedule's prices of `feeders` for one period, not saved."""
    base = lines_prices(feeders, [period])
    rebate = TimeValueParameters.in_force(period.trading_date).rebate_at(period.start)
    rows = []
    for r, feeder in enumerate(feeders):
        price, credit = _static(base[r, 0], period.network_price_c, rebate)
        rows.append(
            FeederPrice(
                feeder=feeder,
                period=period,
                forecast_kw=Decimal(0),
                base_c=_c(base[r, 0]),
                price_c=price,
                export_credit_c=credit,
                source=FeederPrice.Source.STATIC,
                note=note,
                computed_at=timezone.now(),
                firm=True,
            )
        )
    return rows


def prices_missing(*, now: dt.datetime, within: dt.timedelta = dt.timedelta(hours=2)) -> bool:
    """Does an open period closing soon lack a feeder's price (start-up, a new feeder)?"""
    soon = TradingPeriod.objects.filter(
        state=TradingPeriod.State.OPEN, gate_closes_at__gt=now, start__lt=now + within
    )
    feeders = Feeder.objects.count()
    if not feeders:
        return False
    priced = FeederPrice.objects.filter(period__in=soon).count()
    return priced < feeders * soon.count()


@dataclass(frozen=True)
class PathPrices:
    """The engine's per-feeder prices for one period, by the book's feeder numbers."""

    imports: tuple[Decimal, ...]
    credits: tuple[Decimal, ...]
    upstream_c: Decimal


def path_prices(period: TradingPeriod, feeder_ids: Sequence[int | None]) -> PathPrices:
    """The firm price of each feeder in `feeder_ids` (None: an ICP off the network model,
    priced at the static schedule with the co-op's mean lines price)."""
    firm = {row.feeder_id: row for row in FeederPrice.objects.filter(period=period, firm=True)}
    params = TimeValueParameters.in_force(period.trading_date)
    rebate = params.rebate_at(period.start)
    imports, credits = [], []
    for feeder_id in feeder_ids:
        row = firm.get(feeder_id) if feeder_id is not None else None
        if row is not None:
            imports.append(row.price_c)
            credits.append(row.export_credit_c)
            continue
        price, credit = _static(_mean_lines(period), period.network_price_c, rebate)
        imports.append(price)
        credits.append(credit)
    return PathPrices(tuple(imports), tuple(credits), params.upstream_c)


def _mean_lines(period: TradingPeriod) -> float:
    """The mean lines price of every ICP's tariff for the period (0 if none)."""
    tariffs = Tariff.objects.filter(current_tariff_filter(period.trading_date)).prefetch_related(
        "rates"
    )
    lines = [float(t.spec().prices_at(period.start).lines_c) for t in tariffs]
    return mean(lines) if lines else 0.0
