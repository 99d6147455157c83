""" "My battery and EV": the resident's page for the home energy manager. For each of the
member's ICPs with a battery or an EV: what the manager may do, the EV's weekday habits, the
"I'm plugged in now" override, and the latest plan (a chart, the expected saving and why).

Thin: the forms validate and save (energy_forms), the plan is only read and put into words.
Nothing is written on GET; a POST names its ICP, which must be one of the member's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone

from coop import nz
from coop.models import ICP, ICPHolding, Member
from coop.selectors import member_of_request
from metering.models import Meter
from trading.energy_forms import (
    EnergyManagerForm,
    EVHabitFormSet,
    EVOverrideForm,
    habit_initial,
    override_clear,
)
from trading.energy_models import EnergyManager, EnergyPlan
from trading.models import Order

PAGE = "energy-manager"
ACTIONS = ("settings", "override", "override-clear")


@dataclass
class Home:
    """One ICP on the page: its assets, forms and latest plan, ready for the template."""

    icp: ICP
    manager: EnergyManager | None
    settings_form: EnergyManagerForm
    habits: Any  # an EVHabitFormSet, or None without an EV
    override_form: EVOverrideForm | None
    override_text: str = ""
    plan: EnergyPlan | None = None
    plan_text: dict[str, Any] = field(default_factory=dict)
    orders: list[Order] = field(default_factory=list)
    device_error: str = ""  # the battery controller refused or did not answer its setpoint

    @property
    def has_battery(self) -> bool:
        return bool(self.icp.batteries.all())

    @property
    def has_ev(self) -> bool:
        return bool(self.icp.evs.all())


def _managed_icps(member: Member) -> QuerySet[ICP]:
    """The member's ICPs that have a battery or an EV, with their assets and settings."""
    return (
        ICP.objects.filter(member=member)
        .filter(Q(batteries__isnull=False) | Q(evs__isnull=False))
        .distinct()
        .prefetch_related(
            "batteries",
            "evs",
            Prefetch("energy_manager__habits"),
        )
        .order_by("identifier")
    )


def _manager_of(icp: ICP) -> EnergyManager | None:
    """The ICP's settings, if its present holder saved them: a new holder sees the defaults,
    never the last holder's habits or permissions (and the manager ignores those too)."""
    try:
        manager = icp.energy_manager
    except EnergyManager.DoesNotExist:
        return None
    return manager if manager.saved_by_holder() else None


def _blank_manager(icp: ICP) -> EnergyManager:
    """Defaults for an ICP whose manager is off, keeping the row's id if one exists (a previous
    holder's), so saving replaces it rather than adding a second."""
    existing = EnergyManager.objects.filter(icp=icp).values_list("pk", flat=True).first()
    return EnergyManager(pk=existing, icp=icp)


def _local(instant: dt.datetime) -> dt.datetime:
    return instant.astimezone(nz.NZ)


def _clock(instant: dt.datetime) -> str:
    """NZ local clock time without an offset ("2026-07-13 18:00"), as the charts want it."""
    return _local(instant).strftime("%Y-%m-%d %H:%M")


def _money(amount: Decimal) -> str:
    amount = amount.quantize(Decimal("0.01"))
    return f"-${-amount}" if amount < 0 else f"${amount}"


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _series(data: dict[str, Any], key: str) -> list[float]:
    values = data.get(key) or []
    return [round(_num(v), 4) for v in values] if isinstance(values, list) else []


def _starts(plan: EnergyPlan) -> list[dt.datetime]:
    return [dt.datetime.fromisoformat(s) for s in plan.inputs.get("starts") or []]


def plan_chart(plan: EnergyPlan) -> dict[str, Any]:
    """The plan as energy_manager.js draws it: bars per half hour (at its middle), the state of
    charge at the period edges (one more value than periods), prices as steps from each start.
    Every x is an NZ clock time without an offset."""
    starts = _starts(plan)
    edges = [*starts, starts[-1] + nz.TRADING_PERIOD] if starts else []
    schedule, inputs = plan.schedule or {}, plan.inputs or {}
    return {
        "id": plan.icp_id,
        "x": [_clock(s) for s in starts],
        "x_mid": [_clock(s + nz.TRADING_PERIOD / 2) for s in starts],
        "x_edges": [_clock(s) for s in edges],
        "soc_kwh": _series(schedule, "soc"),
        "charge_kwh": _series(schedule, "charge"),
        "discharge_kwh": [-v for v in _series(schedule, "discharge")],
        "ev_kwh": _series(schedule, "ev"),
        "buy_c": _series(inputs, "buy_c"),
        "sell_c": _series(inputs, "sell_c"),
    }


def _range(values: list[float]) -> str:
    if not values:
        return "none given"
    low, high = min(values), max(values)
    return f"{low:.1f} c/kWh" if abs(high - low) < 0.05 else f"{low:.1f} to {high:.1f} c/kWh"


def _ev_kwh(icp: ICP) -> float:
    return sum(float(e.battery_kwh) for e in icp.evs.all())


def _ev_shortfall(plan: EnergyPlan, icp: ICP, manager: EnergyManager | None) -> str:
    """ "The EV cannot reach 80% by 07:30: ..." for the first EV session the plan cannot fill,
    or "" when it fills them all."""
    if plan.ev_short_kwh <= Decimal("0.01"):
        return ""
    starts, ev = _starts(plan), _series(plan.schedule or {}, "ev")
    capacity = _ev_kwh(icp)
    target = None
    if manager is not None:
        active = manager.override_active(plan.created_at)
        target = manager.override_need_pct if active else manager.ev_target_pct
    short, end = float(plan.ev_short_kwh), None
    for session in plan.inputs.get("ev_sessions") or []:
        try:
            first, last, need = int(session[0]), int(session[1]), _num(session[2])
        except (TypeError, ValueError, IndexError):
            continue
        missing = need - sum(ev[first:last])
        if missing > 0.01:
            short, end = missing, last
            break
    by = ""
    if end is not None and starts:
        leaves = starts[end] if end < len(starts) else starts[-1] + nz.TRADING_PERIOD
        by = f" by {_local(leaves):%H:%M}"
    if target is None or not capacity:
        return (
            f"The EV cannot get all it needs{by}: it will charge at full power and still be "
            f"about {short:.1f} kWh short."
        )
    reach = max(float(target) - short / capacity * 100, 0.0)
    return (
        f"The EV cannot reach {float(target):.0f}%{by}: it will charge at full power and "
        f"reach about {reach:.0f}%."
    )


def _plan_why(plan: EnergyPlan) -> list[str]:
    """The plan's inputs in words: what it was given to work with."""
    inputs = plan.inputs or {}
    why = []
    battery_kwh = _num(inputs.get("battery_kwh"))
    if battery_kwh:
        why.append(
            f"Battery: {battery_kwh:.1f} kWh, charging or discharging at up to "
            f"{_num(inputs.get('battery_kw')):.1f} kW."
        )
        why.append(
            f"Reserve kept for power cuts: {_num(inputs.get('reserve_kwh')):.1f} kWh; "
            f"starting charge {_num(inputs.get('soc_kwh')):.1f} kWh."
        )
        why.append(
            "The battery may sell to neighbours."
            if inputs.get("may_export_battery")
            else "The battery only covers your own home (it does not sell to neighbours)."
        )
    else:
        why.append("No battery managed.")
    sessions = inputs.get("ev_sessions") or []
    if _num(inputs.get("ev_kw")) and sessions:
        need = sum(_num(s[2]) for s in sessions if isinstance(s, list) and len(s) > 2)
        why.append(
            f"EV: charger up to {_num(inputs.get('ev_kw')):.1f} kW; {len(sessions)} charging "
            f"window(s) needing {need:.1f} kWh in all."
        )
    load, pv = _series(inputs, "load_kwh"), _series(inputs, "pv_kwh")
    why.append(f"Expected use {sum(load):.1f} kWh and solar {sum(pv):.1f} kWh.")
    why.append(
        f"Buying power: {_range(_series(inputs, 'buy_c'))}; selling: "
        f"{_range(_series(inputs, 'sell_c'))} (excluding GST)."
    )
    return why


def _plan_text(plan: EnergyPlan, icp: ICP, manager: EnergyManager | None) -> dict[str, Any]:
    hours = len(plan.inputs.get("starts") or []) / 2
    return {
        "saving": (
            f"Expected saving over the next {hours:g} h: {_money(plan.saving_nzd)} "
            "against self-consumption"
        ),
        "cost": _money(plan.cost_nzd),
        "baseline": _money(plan.baseline_cost_nzd),
        "made": _local(plan.created_at),
        "fell_back": plan.status == EnergyPlan.Status.FALLBACK,
        "ev_short": _ev_shortfall(plan, icp, manager),
        "why": _plan_why(plan),
    }


def _latest_plan(icp: ICP, member: Member) -> EnergyPlan | None:
    """The ICP's newest plan made while this member held it (not a previous holder's)."""
    plans = EnergyPlan.objects.filter(icp=icp)
    holding = (
        ICPHolding.objects.filter(icp=icp, member=member, ended_on__isnull=True)
        .order_by("-started_on")
        .first()
    )
    if holding is not None:
        plans = plans.filter(created_at__gte=nz.trading_day_start(holding.started_on))
    return plans.order_by("-created_at", "-pk").first()


def _pct(value: Decimal | None) -> str:
    """A percentage as people write it: "80%", "82.5%"."""
    return f"{float(value or 0):g}%"


def _override_text(manager: EnergyManager | None, now: dt.datetime) -> str:
    if manager is None or not manager.override_active(now) or manager.override_by is None:
        return ""
    by = _local(manager.override_by)
    day = "today" if by.date() == _local(now).date() else f"{by:%a %d %b}"
    had = manager.override_now_pct
    have = f" (it had {_pct(had)})" if had is not None else ""
    return f"Override in force: {_pct(manager.override_need_pct)} by {by:%H:%M} {day}{have}."


def _home(icp: ICP, member: Member, now: dt.datetime, bound: dict[str, Any] | None = None) -> Home:
    manager = _manager_of(icp)
    has_battery, has_ev = bool(icp.batteries.all()), bool(icp.evs.all())
    prefix = f"icp{icp.pk}"
    bound = bound or {}
    settings_form = bound.get("settings") or EnergyManagerForm(
        instance=manager or _blank_manager(icp),
        prefix=prefix,
        has_battery=has_battery,
        has_ev=has_ev,
    )
    habits = bound.get("habits")
    override_form = bound.get("override")
    if has_ev:
        habits = habits or EVHabitFormSet(
            initial=habit_initial(icp, manager), prefix=f"{prefix}-habit"
        )
        override_form = override_form or EVOverrideForm(prefix=f"{prefix}-override", now=now)
    plan = _latest_plan(icp, member)
    return Home(
        icp=icp,
        manager=manager,
        settings_form=settings_form,
        habits=habits,
        override_form=override_form,
        override_text=_override_text(manager, now),
        plan=plan,
        plan_text=_plan_text(plan, icp, manager) if plan else {},
        orders=list(
            Order.objects.filter(
                member=member, icp=icp, energy_plan__isnull=False, status=Order.Status.OPEN
            )
            .select_related("period")
            .order_by("period__start", "pk")[:100]
        ),
        device_error=_device_error(icp),
    )


def _device_error(icp: ICP) -> str:
    meter = Meter.objects.filter(icp=icp, dispatch_failed_at__isnull=False).first()
    if meter is None:
        return ""
    when = meter.dispatch_failed_at.astimezone(nz.NZ).strftime("%a %d %b %H:%M")  # type: ignore[union-attr]
    return (
        f"Your battery controller did not take the plan at {when} NZ time "
        f"({meter.last_dispatch_error}): it is on self-consumption until the next plan."
    )


def _posted_icp(request: HttpRequest, member: Member) -> ICP:
    """The ICP a POST names: one of the member's with a battery or an EV, else 404."""
    try:
        pk = int(request.POST.get("icp", ""))
    except ValueError:
        raise Http404("No such ICP.") from None
    icp = _managed_icps(member).filter(pk=pk).first()
    if icp is None:
        raise Http404("No such ICP.")
    return icp


def _save(request: HttpRequest, icp: ICP, action: str, now: dt.datetime) -> dict[str, Any] | None:
    """Handle one POST for `icp`. None when it was saved (the caller redirects), else the bound
    forms with their errors to show again."""
    manager = _manager_of(icp)
    has_battery, has_ev = bool(icp.batteries.all()), bool(icp.evs.all())
    prefix = f"icp{icp.pk}"
    if action == "settings":
        form = EnergyManagerForm(
            request.POST,
            instance=manager or _blank_manager(icp),
            prefix=prefix,
            has_battery=has_battery,
            has_ev=has_ev,
        )
        habits = EVHabitFormSet(request.POST, prefix=f"{prefix}-habit") if has_ev else None
        valid = form.is_valid()
        if valid and (habits is None or habits.is_valid()):
            with transaction.atomic():
                saved = form.save()
                if habits is not None:
                    habits.save(saved)
            messages.success(
                request, f"Saved for {icp.identifier}: the manager's next plan uses these settings."
            )
            return None
        messages.error(request, f"Not saved for {icp.identifier}: see the messages below.")
        return {"settings": form, "habits": habits}
    if not has_ev:
        raise Http404("This ICP has no EV.")
    if action == "override-clear":
        if manager is not None:
            override_clear(manager)
        messages.success(request, f"Override cleared for {icp.identifier}.")
        return None
    override = EVOverrideForm(request.POST, prefix=f"{prefix}-override", now=now)
    if not override.is_valid():
        messages.error(request, f"Override not set for {icp.identifier}: see below.")
        return {"override": override}
    with transaction.atomic():
        saved = override.save(manager or _blank_manager(icp))
    text = _override_text(saved, now)
    if not saved.ev_enabled:
        text += " Turn on \u201cManage my EV charging\u201d for the manager to follow it."
    messages.success(request, text or "Override set.")
    return None


@login_required
def energy_manager(request: HttpRequest) -> HttpResponse:
    member = member_of_request(request)
    now = timezone.now()
    bound: dict[int, dict[str, Any]] = {}
    if request.method == "POST":
        icp = _posted_icp(request, member)
        action = request.POST.get("action", "")
        if action not in ACTIONS:
            return HttpResponseBadRequest("Unknown action.")
        try:
            errors = _save(request, icp, action, now)
        except IntegrityError:  # the row was made by another request at the same moment
            messages.error(request, "Someone saved these settings at the same moment: try again.")
            return redirect(PAGE)
        if errors is None:
            return redirect(PAGE)
        bound[icp.pk] = errors
    homes = [_home(icp, member, now, bound.get(icp.pk)) for icp in _managed_icps(member)]
    charts = [plan_chart(h.plan) for h in homes if h.plan and h.plan.inputs.get("starts")]
    return render(
        request,
        "trading/energy_manager.html",
        {"homes": homes, "charts": charts, "now": now},
    )
