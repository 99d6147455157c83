"""The resident's forms for the home energy manager ("My battery and EV"): what it may do with
an ICP's battery and EV, the EV's weekday habits, and the "I'm plugged in now" override.

Each form saves through its own `save`, inside the view's transaction; the EnergyManager row is
made (with the model's safe defaults for whatever the form does not set) only when one of them
is saved, never when the page is read.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast

from django import forms

from coop import nz
from coop.models import ICP
from trading.energy_models import EnergyManager, EVHabit

BATTERY_FIELDS = ("battery_enabled", "reserve_pct", "battery_may_export")
EV_FIELDS = ("ev_enabled", "ev_target_pct", "ev_arrival_pct")
FULL_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _percent(label: str, help_text: str, what: str) -> forms.DecimalField:
    """A percentage from 0 to 100 whose messages say what to type instead."""
    return forms.DecimalField(
        label=label,
        help_text=help_text,
        min_value=Decimal(0),
        max_value=Decimal(100),
        max_digits=5,
        decimal_places=1,
        widget=forms.NumberInput(attrs={"step": "0.1", "min": "0", "max": "100"}),
        error_messages={
            "required": f"Give the {what} as a percentage from 0 to 100.",
            "invalid": f"Give the {what} as a number from 0 to 100.",
            # Formatted with the limit's parameters by Django: a literal percent sign is %%.
            "min_value": f"The {what} cannot be below 0%%: give a value from 0 to 100.",
            "max_value": f"The {what} cannot be above 100%%: give a value from 0 to 100.",
            "max_decimal_places": f"Give the {what} to at most one decimal place.",
            "max_digits": f"Give the {what} as a value from 0 to 100.",
            "max_whole_digits": f"Give the {what} as a value from 0 to 100.",
        },
    )


class EnergyManagerForm(forms.ModelForm):
    """What the manager may do with one ICP's battery and EV. Fields for an asset the ICP does
    not have are left out (and keep their stored or default values)."""

    reserve_pct = _percent(
        "Battery reserve (%)",
        "Kept for power cuts: the plan never takes the battery below this.",
        "battery reserve",
    )
    ev_target_pct = _percent(
        "EV charge by departure (%)",
        "How full the EV should be when it leaves; at least the battery reserve.",
        "EV target",
    )
    ev_arrival_pct = _percent(
        "EV charge when plugged in (%)",
        "What it usually has left when you get home.",
        "EV charge when plugged in",
    )

    class Meta:
        model = EnergyManager
        fields = [*BATTERY_FIELDS, *EV_FIELDS]
        labels = {
            "battery_enabled": "Manage my battery",
            "battery_may_export": "The battery may sell to neighbours",
            "ev_enabled": "Manage my EV charging",
        }
        help_texts = {
            "battery_enabled": "Charge it when power is cheap and use it when it is dear.",
            "battery_may_export": "Off: the battery only covers your own home.",
            "ev_enabled": "Charge the EV in the cheapest half hours before it leaves.",
        }

    def __init__(
        self, *args: Any, has_battery: bool = True, has_ev: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        for name in (() if has_battery else BATTERY_FIELDS) + (() if has_ev else EV_FIELDS):
            del self.fields[name]


class EVHabitForm(forms.Form):
    """One weekday: when the EV is usually plugged in, when it leaves, and whether it is home."""

    weekday: int = 0  # set by the formset: the row's position
    day_name: str = ""

    at_home = forms.BooleanField(
        label="Plugged in",
        required=False,
        help_text="Off: it is not plugged in that evening.",
    )
    plug_in = forms.TimeField(
        label="Plugged in at",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        error_messages={"required": "Give the plug-in time (HH:MM)."},
    )
    departure = forms.TimeField(
        label="Leaves at",
        help_text="At or before the plug-in time: the next morning.",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        error_messages={"required": "Give the departure time (HH:MM)."},
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("plug_in") is not None and data.get("plug_in") == data.get("departure"):
            self.add_error(
                "departure", "The departure must differ from the plug-in time: change one."
            )
        return data


class BaseEVHabitFormSet(forms.BaseFormSet):
    """Seven rows, Monday (0) to Sunday (6): the row's position is its weekday."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for weekday, form in enumerate(self.forms):
            form.weekday = weekday
            form.day_name = day = FULL_DAY_NAMES[weekday]
            for name, what in (
                ("at_home", "plugged in"),
                ("plug_in", "plug-in time"),
                ("departure", "departure time"),
            ):
                form.fields[name].widget.attrs["aria-label"] = f"{day}: {what}"

    def save(self, manager: EnergyManager) -> None:
        """Every weekday's habit, made or changed (the manager must be saved)."""
        for weekday, form in enumerate(self.forms):
            EVHabit.objects.update_or_create(
                manager=manager,
                weekday=weekday,
                defaults={
                    "plug_in": form.cleaned_data["plug_in"],
                    "departure": form.cleaned_data["departure"],
                    "at_home": form.cleaned_data["at_home"],
                },
            )


EVHabitFormSet = cast(
    "type[BaseEVHabitFormSet]",
    forms.formset_factory(
        EVHabitForm,
        formset=BaseEVHabitFormSet,
        extra=0,
        min_num=7,
        max_num=7,
        validate_min=True,
        validate_max=True,
        absolute_max=7,
    ),
)


def habit_initial(icp: ICP, manager: EnergyManager | None) -> list[dict[str, Any]]:
    """The seven rows' starting values: the stored habits, else the EV's usual times."""
    ev = icp.evs.all()[0] if icp.evs.all() else None
    plug_in = ev.usual_plug_in if ev else dt.time(18)
    departure = ev.usual_departure if ev else dt.time(7, 30)
    stored = {h.weekday: h for h in manager.habits.all()} if manager and manager.pk else {}
    rows = []
    for weekday in range(7):
        habit = stored.get(weekday)
        rows.append(
            {
                "plug_in": habit.plug_in if habit else plug_in,
                "departure": habit.departure if habit else departure,
                "at_home": habit.at_home if habit else True,
            }
        )
    return rows


def next_occurrence(clock: dt.time, now: dt.datetime) -> dt.datetime:
    """The next time the NZ clock shows `clock` after `now`: today, or tomorrow if it has
    passed (by the calendar, so a daylight-saving change in between keeps the clock time)."""
    local = now.astimezone(nz.NZ)
    candidate = dt.datetime.combine(local.date(), clock, tzinfo=nz.NZ)
    if candidate <= local:
        candidate = dt.datetime.combine(local.date() + dt.timedelta(days=1), clock, tzinfo=nz.NZ)
    return candidate.astimezone(dt.UTC)


class EVOverrideForm(forms.Form):
    """ "I'm plugged in now: it has N %, I need X % by HH:MM" (NZ time)."""

    now_pct = _percent("It has now (%)", "The EV's charge as it is now.", "charge it has now")
    need_pct = _percent("I need (%)", "How full it must be by then.", "charge you need")
    by = forms.TimeField(
        label="By (HH:MM, NZ time)",
        help_text="Today, or tomorrow if that time has passed.",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        error_messages={
            "required": "Say by when you need it (HH:MM).",
            "invalid": "Give the time as HH:MM, for example 07:30.",
        },
    )

    def __init__(self, *args: Any, now: dt.datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.now = now

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        have, need, by = data.get("now_pct"), data.get("need_pct"), data.get("by")
        if have is not None and need is not None and need < have:
            self.add_error(
                "need_pct",
                f"You need less than it has now ({float(have):g}%): there is nothing to charge. "
                "Give a charge at least that high, or clear the override.",
            )
        if by is not None:
            local = self.now.astimezone(nz.NZ)
            if by.replace(second=0, microsecond=0) == local.time().replace(second=0, microsecond=0):
                self.add_error(
                    "by",
                    f"It is {local:%H:%M} now: give a later time for the charge to be ready.",
                )
            else:
                data["by_at"] = next_occurrence(by, self.now)
        return data

    def save(self, manager: EnergyManager) -> EnergyManager:
        """Set the override on `manager` and save it (made with safe defaults if new)."""
        manager.override_now_pct = self.cleaned_data["now_pct"]
        manager.override_need_pct = self.cleaned_data["need_pct"]
        manager.override_by = self.cleaned_data["by_at"]
        manager.save()
        return manager


def override_clear(manager: EnergyManager) -> None:
    """Remove the override: the habits and the usual target apply again."""
    manager.override_now_pct = None
    manager.override_need_pct = None
    manager.override_by = None
    manager.save(
        update_fields=["override_now_pct", "override_need_pct", "override_by", "updated_at"]
    )
