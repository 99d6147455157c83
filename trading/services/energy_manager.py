"""The home energy manager: for every opted-in ICP, a plan for its battery and EV over the next
24 h of trading periods (the pure LP of trading.hems.lp), re-made every trading period with the
newest forecast, prices and state of charge; the plan is stored with its inputs, sent to the
devices (metering's dispatch) and becomes ordinary orders before gate closure.

The prices a home faces in period t (c/kWh excl. GST), as ../shared/docs/time-value.md puts
them, with one change: the export credit is earned only on what is sold to a neighbour, so
    buy  = min(retail import, expected co-op price + network charge + co-op fee)
    sell = max(buy-back, expected co-op price + export credit)
and sell is capped at buy (one meter nets a half hour). The expected co-op price is the mean
clearing price of that trading period over the last week; without history, the midpoint of the
home's retail import and buy-back (what a bill-sharing trade would pay). The network charge and credit are the feeder's published time-value prices
under the time-value mechanism, else the co-op's flat between-feeder charge.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from coop import nz
from coop.models import ICP, CoopSettings, Tariff
from coop.selectors import current_tariff_filter
from metering.selectors import battery_soc
from metering.services.dispatch import dispatch_clear, dispatch_set
from trading import selectors
from trading.energy_models import EnergyManager, EnergyPlan, EVHabit
from trading.hems import lp
from trading.models import FeederPrice, Order, TradingPeriod
from trading.services.network_forecast import home_forecasts
from trading.services.orders import CrossesOwnOrder, max_sell_kwh, order_cancel, order_place

log = logging.getLogger(__name__)

HORIZON_PERIODS = 48  # 24 h ahead
ORDER_AHEAD = dt.timedelta(hours=1)  # the plan's next periods become orders
MIN_KWH = Decimal("0.010")
KEEP_PLANS = dt.timedelta(days=2)
KWH3 = Decimal("0.001")
C4 = Decimal("0.0001")


@dataclass(frozen=True)
class Planned:
    homes: int
    fallbacks: int
    orders: int
    seconds: float


def _c4(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(C4)


def _kwh(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(KWH3)


def horizon_starts(now: dt.datetime) -> list[dt.datetime]:
    """The trading periods from the next one to start, 24 h of them (DST-proof: by instants)."""
    day, number = nz.trading_period_of(now)
    first = nz.trading_period_start(day, number) + nz.TRADING_PERIOD
    return [first + i * nz.TRADING_PERIOD for i in range(HORIZON_PERIODS)]


def managers_due() -> list[EnergyManager]:
    """Opted-in ICPs whose settings their present holder saved (EnergyManager.saved_by_holder)."""
    managers = (
        EnergyManager.objects.filter(icp__member__isnull=False)
        .exclude(battery_enabled=False, ev_enabled=False)
        .select_related("icp__feeder", "icp__member")
        .prefetch_related("habits", "icp__batteries", "icp__evs", "icp__pv_systems")
    )
    return [m for m in managers if m.saved_by_holder()]


def _ev_sessions(
    manager: EnergyManager, starts: Sequence[dt.datetime], now: dt.datetime
) -> tuple[float, tuple[lp.EVSession, ...]]:
    """(charger kW, sessions) of the ICP's EV over the horizon: its override, else its habits
    (the EV's usual times where the resident set none)."""
    evs = list(manager.icp.evs.all())
    if not manager.ev_enabled or not evs:
        return 0.0, ()
    kwh = float(sum(e.battery_kwh for e in evs))
    charger = float(sum(e.charger_kw for e in evs))
    index = {s: i for i, s in enumerate(starts)}
    if manager.override_active(now):
        assert manager.override_by is not None
        assert manager.override_need_pct is not None
        end = sum(1 for s in starts if s < manager.override_by)
        have = float(manager.override_now_pct or manager.ev_arrival_pct)
        need = max(float(manager.override_need_pct) - have, 0.0) / 100 * kwh
        return charger, (lp.EVSession(0, max(end, 1), need),)
    habits = {h.weekday: h for h in manager.habits.all()}
    need = max(float(manager.ev_target_pct - manager.ev_arrival_pct), 0.0) / 100 * kwh
    sessions = []
    first_day = starts[0].astimezone(nz.NZ).date() - dt.timedelta(days=1)
    for offset in range(3):
        day = first_day + dt.timedelta(days=offset)
        habit = habits.get(day.weekday()) or EVHabit(
            weekday=day.weekday(), plug_in=evs[0].usual_plug_in, departure=evs[0].usual_departure
        )
        if not habit.at_home:
            continue
        plug = dt.datetime.combine(day, habit.plug_in, tzinfo=nz.NZ)
        leave_day = day if habit.departure > habit.plug_in else day + dt.timedelta(days=1)
        leave = dt.datetime.combine(leave_day, habit.departure, tzinfo=nz.NZ)
        inside = [index[s] for s in starts if plug <= s < leave]
        if not inside:
            continue
        # A session already under way when the horizon starts still needs what is left of it:
        # the manager does not know how much it got, so it asks for the share of the window left.
        whole = (leave - plug) / nz.TRADING_PERIOD
        share = min(len(inside) / whole, 1.0) if whole else 1.0
        sessions.append(lp.EVSession(inside[0], inside[-1] + 1, need * share))
    return charger, tuple(sessions)


Offered = dict[tuple[int, dt.datetime], tuple[float, float]]  # (feeder, start): price, credit


def _prices(
    icps: Sequence[ICP], starts: Sequence[dt.datetime], offered: Offered | None = None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{ICP id: (buy c, sell c)} per start, as the module docstring says; ICPs without a tariff
    in force are left out (there is nothing to plan against). `offered` gives the feeders'
    network prices instead of the published ones (the publisher's rounds)."""
    settings_row = CoopSettings.load()
    periods = {p.start: p for p in TradingPeriod.objects.filter(start__in=starts)}
    expected = selectors.expected_prices(list(periods.values()))
    time_value = settings_row.mechanism == CoopSettings.Mechanism.TIME_VALUE
    network: dict[tuple[int, dt.datetime], tuple[Decimal, Decimal]] = {
        (r.feeder_id, r.period.start): (r.price_c, r.export_credit_c)
        for r in FeederPrice.objects.filter(period__in=list(periods.values())).select_related(
            "period"
        )
    }
    for key, (price_c, credit_c) in (offered or {}).items():
        network[key] = (_c4(price_c), _c4(credit_c))
    fee = settings_row.coop_fee_c
    tariffs = {
        (t.icp_id, day): t.spec()
        for day in {s.astimezone(nz.NZ).date() for s in starts}
        for t in Tariff.objects.filter(
            current_tariff_filter(day), icp_id__in=[i.pk for i in icps]
        ).prefetch_related("rates")
    }
    result = {}
    for icp in icps:
        buy, sell = np.zeros(len(starts)), np.zeros(len(starts))
        for i, start in enumerate(starts):
            spec = tariffs.get((icp.pk, start.astimezone(nz.NZ).date()))
            if spec is None:
                break
            tariff = spec.prices_at(start)
            period = periods.get(start)
            coop = expected.get(period.pk) if period else None
            if coop is None:
                coop = (tariff.import_c + tariff.export_c) / 2
            row = network.get((icp.feeder_id or 0, start)) if time_value else None
            charge, credit = row if row else (settings_row.network_charge_c, Decimal(0))
            buy[i] = float(min(tariff.import_c, coop + charge + fee))
            # One meter nets a half hour: a kWh sent can never be worth more than one drawn,
            # else the plan would draw and send at once for the difference.
            sell[i] = min(float(max(tariff.export_c, coop + credit)), buy[i])
        else:
            result[icp.pk] = (buy, sell)
    return result


def home_for(
    manager: EnergyManager,
    starts: Sequence[dt.datetime],
    forecast: tuple[np.ndarray, np.ndarray],
    prices: tuple[np.ndarray, np.ndarray],
    soc: Decimal | None,
    now: dt.datetime,
) -> lp.Home:
    icp = manager.icp
    batteries = list(icp.batteries.all()) if manager.battery_enabled else []
    capacity = float(sum(b.capacity_kwh for b in batteries))
    floor_pct = max(
        [float(manager.reserve_pct)] + [float(b.min_state_of_charge) * 100 for b in batteries]
    )
    ev_kw, sessions = _ev_sessions(manager, starts, now)
    load, pv = forecast
    return lp.Home(
        key=str(icp.pk),
        load_kwh=load * 0.5,
        pv_kwh=pv * 0.5,
        buy_c=prices[0],
        sell_c=prices[1],
        battery_kwh=capacity,
        battery_kw=float(sum(b.power_kw for b in batteries)),
        round_trip=float(batteries[0].round_trip_efficiency) if batteries else 0.9,
        reserve_kwh=capacity * floor_pct / 100,
        soc_kwh=float(soc) if soc is not None else capacity * 0.5,
        may_export_battery=manager.battery_may_export,
        ev_kw=ev_kw,
        ev_sessions=sessions,
        fuse_kw=float(icp.max_import_kw),
        export_kw=float(icp.max_import_kw),
    )


def net_cost_c(home: lp.Home, plan: lp.Plan) -> float:
    """What the 24 h cost the home, counting the battery's wear and the change in what it holds
    (at the horizon's mean sell price, as the LP values it): a plan that ends fuller is not
    dearer for having bought what it still has."""
    throughput = float(plan.charge.sum() + plan.discharge.sum())
    stored = float(plan.soc[-1] - plan.soc[0]) if len(plan.soc) else 0.0
    return plan.cost_c + home.wear_c * throughput - home.end_value * stored


def _nzd(cents: float) -> Decimal:
    return (Decimal(repr(float(cents))) / 100).quantize(C4)


def _record(
    manager: EnergyManager,
    home: lp.Home,
    result: lp.Plan,
    starts: Sequence[dt.datetime],
    now: dt.datetime,
) -> EnergyPlan:
    def as_list(values: np.ndarray) -> list[float]:
        return [round(float(v), 4) for v in values]

    return EnergyPlan.objects.create(
        icp=manager.icp,
        created_at=now,
        first_start=starts[0],
        status=EnergyPlan.Status.OPTIMAL
        if result.status == "optimal"
        else EnergyPlan.Status.FALLBACK,
        reason=result.reason[:300],
        cost_nzd=_nzd(net_cost_c(home, result)),
        baseline_cost_nzd=_nzd(net_cost_c(home, lp.self_consumption(home))),
        ev_short_kwh=_kwh(result.ev_short_kwh),
        inputs={
            "starts": [s.isoformat() for s in starts],
            "load_kwh": as_list(home.load_kwh),
            "pv_kwh": as_list(home.pv_kwh),
            "buy_c": as_list(home.buy_c),
            "sell_c": as_list(home.sell_c),
            "battery_kwh": home.battery_kwh,
            "battery_kw": home.battery_kw,
            "reserve_kwh": round(home.reserve_kwh, 3),
            "soc_kwh": round(home.soc_kwh, 3),
            "may_export_battery": home.may_export_battery,
            "ev_kw": home.ev_kw,
            "ev_sessions": [[s.start, s.end, round(s.need_kwh, 3)] for s in home.ev_sessions],
        },
        schedule={
            "charge": as_list(result.charge),
            "discharge": as_list(result.discharge),
            "ev": as_list(result.ev),
            "grid_import": as_list(result.grid_import),
            "grid_export": as_list(result.grid_export),
            "soc": as_list(result.soc),
            "offer_floor_c": as_list(result.offer_floor_c),
            "bid_cap_c": as_list(result.bid_cap_c),
        },
    )


def _homes(
    managers: Sequence[EnergyManager],
    starts: Sequence[dt.datetime],
    now: dt.datetime,
    offered: Offered | None = None,
) -> tuple[list[EnergyManager], list[lp.Home]]:
    icps = [m.icp for m in managers]
    forecasts = home_forecasts(icps, starts, now=now)
    socs = battery_soc([i.pk for i in icps], starts[0])
    prices = _prices(icps, starts, offered)
    homes, kept = [], []
    for manager in managers:
        if manager.icp.pk not in prices:
            log.warning("energy manager: ICP %s has no tariff in force", manager.icp)
            continue
        f = forecasts[manager.icp.pk]
        homes.append(
            home_for(
                manager,
                starts,
                (f.load_kw, f.pv_kw),
                prices[manager.icp.pk],
                socs.get(manager.icp.pk),
                now,
            )
        )
        kept.append(manager)
    return kept, homes


def planned_grid_kw(
    starts: Sequence[dt.datetime], offered: Offered, *, now: dt.datetime
) -> dict[int, np.ndarray]:
    """{ICP id: kW per start} of what the managed homes would draw from the grid (negative:
    send) if the feeders were priced at `offered`: the publisher's next round. Starts beyond
    the managers' horizon keep the forecast (NaN here means "not planned")."""
    managers = managers_due()
    if not managers:
        return {}
    horizon = horizon_starts(now)
    kept, homes = _homes(managers, horizon, now, offered)
    result = {}
    position = {s: i for i, s in enumerate(horizon)}
    forecasts = home_forecasts([m.icp for m in kept], starts, now=now)
    for manager, plan in zip(kept, lp.plan_many(homes), strict=True):
        f = forecasts[manager.icp.pk]
        kw = f.load_kw + f.ev_kw - f.pv_kw
        grid = (plan.grid_import - plan.grid_export) * 2
        for i, start in enumerate(starts):
            if start in position:
                kw[i] = grid[position[start]]
        result[manager.icp.pk] = kw
    return result


def plans_make(*, now: dt.datetime | None = None) -> Planned:
    """Plan every opted-in ICP (one batched solve), store the plans, dispatch the devices and
    place the next periods' orders. One home's failure never stops the others."""
    started = timezone.now()
    now = now or started
    managers = managers_due()
    if not managers:
        return Planned(0, 0, 0, 0.0)
    starts = horizon_starts(now)
    kept, homes = _homes(managers, starts, now)
    results = lp.plan_many(homes)
    fallbacks = orders = 0
    for manager, home, result in zip(kept, homes, results, strict=True):
        with transaction.atomic():
            plan = _record(manager, home, result, starts, now)
            if result.status == "optimal":
                dispatch_set(
                    icp_id=manager.icp.pk,
                    rows=[
                        (s, _kwh(c - d), _kwh(e))
                        for s, c, d, e in zip(
                            starts, result.charge, result.discharge, result.ev, strict=True
                        )
                    ],
                    now=now,
                )
            else:
                fallbacks += 1
                dispatch_clear(icp_id=manager.icp.pk, now=now)
        if result.status == "optimal":
            orders += plan_orders_place(plan=plan, home=home, result=result, now=now)
    EnergyPlan.objects.filter(created_at__lt=now - KEEP_PLANS).delete()
    return Planned(len(homes), fallbacks, orders, (timezone.now() - started).total_seconds())


def plan_orders_place(*, plan: EnergyPlan, home: lp.Home, result: lp.Plan, now: dt.datetime) -> int:
    """The plan's next periods as orders: stored energy it plans to export offered at the price
    below which keeping it is worth more, grid energy it plans to store (and the EV's) bid at
    the price above which waiting is better. Its earlier orders for those periods go first;
    the resident's own orders and rules are left as they are (a crossing one wins: this is
    skipped for the period)."""
    icp = plan.icp
    member = icp.member
    if member is None or not member.can_trade:
        return 0
    settings_row = CoopSettings.load()
    floor, cap = settings_row.price_floor_c, settings_row.price_cap_c
    starts = [dt.datetime.fromisoformat(s) for s in plan.inputs["starts"]]
    periods = {
        p.start: p
        for p in TradingPeriod.objects.filter(
            start__in=starts,
            state=TradingPeriod.State.OPEN,
            gate_closes_at__gt=now,
            start__lt=now + ORDER_AHEAD,
        )
    }
    placed = 0
    for i, start in enumerate(starts):
        period = periods.get(start)
        if period is None:
            continue
        for old in Order.objects.filter(
            period=period, icp=icp, energy_plan__isnull=False, status=Order.Status.OPEN
        ):
            order_cancel(member=member, order=old, now=now)
        surplus = max(home.pv_kwh[i] - home.load_kwh[i] - result.ev[i] - result.charge[i], 0.0)
        shortfall = max(home.load_kwh[i] + result.ev[i] - home.pv_kwh[i] - result.discharge[i], 0.0)
        from_battery = max(result.grid_export[i] - surplus, 0.0)
        to_store = max(result.grid_import[i] - shortfall, 0.0)
        wanted = [(Order.Side.BUY, min(result.ev[i], result.grid_import[i]), home.buy_c[i])]
        if home.battery_kwh > 0:
            wanted += [
                (
                    Order.Side.SELL,
                    min(from_battery, float(max_sell_kwh(icp))),
                    result.offer_floor_c[i],
                ),
                (Order.Side.BUY, to_store, result.bid_cap_c[i]),
            ]
        for side, kwh, price_c in wanted:
            energy = _kwh(kwh)
            if energy < MIN_KWH:
                continue
            price = min(max(_c4(price_c), floor), cap)
            try:
                with transaction.atomic():
                    order = order_place(
                        member=member,
                        icp=icp,
                        period=period,
                        side=side,
                        energy_kwh=energy,
                        limit_price_c=price,
                        now=now,
                    )
                    order.energy_plan = plan
                    order.save(update_fields=["energy_plan"])
                placed += 1
            except CrossesOwnOrder as exc:
                log.info("energy manager order for %s in %s skipped: %s", icp, period, exc)
            except (ValidationError, PermissionDenied) as exc:  # e.g. a changed price cap
                log.warning("energy manager order for %s in %s refused: %s", icp, period, exc)
    return placed
