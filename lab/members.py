"""The co-op's own community for a study: its members' ICPs, their panels, batteries and EVs,
their tariffs, and the LV network model the time-value price is computed on."""

from __future__ import annotations

import datetime as dt

from coop.models import ICP
from coop.selectors import current_tariff_filter
from lab.core.community import Community, HomeSpec, OtherCustomers
from lab.core.inputs import InputError
from lab.core.scenario import Scenario
from trading.models import HardshipRecipient
from trading.services.network_forecast import network_model

TYPICAL_LOAD_KWH = 7000.0  # a year, for a home the co-op has no history for


def _hour(t: dt.time) -> float:
    return t.hour + t.minute / 60


def community_from_coop(scenario: Scenario) -> Community:
    """Refused (InputError) when the co-op has no member ICP on a modelled feeder: a study of
    nobody is not a study."""
    model = network_model()
    icps = {key: icp for key, icp in model.icps.items() if icp.member_id is not None}
    if not icps:
        reasons = "; ".join(model.left_out.values()) or "no ICPs on feeders"
        raise InputError(
            "community.source", f"the co-op has no member ICPs on a modelled feeder ({reasons})"
        )
    day = scenario.first
    ev_range = scenario.community.sizes.ev_kwh_per_day
    homes: list[HomeSpec] = []
    tariffs = {}
    transformer_of = {f.key: f.transformer for f in model.network.feeders}
    feeder_of = {c.key: c.feeder for c in model.network.connections}
    rows = ICP.objects.filter(pk__in=[icp.pk for icp in icps.values()]).prefetch_related(
        "pv_systems", "batteries", "evs", "tariffs__rates"
    )
    by_pk = {icp.pk: icp for icp in rows}
    # The households the co-op has agreed receive from its hardship pool (gift designs).
    hardship = set(
        HardshipRecipient.objects.filter(active=True).values_list("member_id", flat=True)
    )
    for key, stub in sorted(icps.items()):
        icp = by_pk[stub.pk]
        tariff = icp.tariffs.filter(current_tariff_filter(day)).first() or icp.tariffs.first()
        if tariff is None:
            raise InputError(f"ICP {icp.identifier}", "has no tariff: give it one in the admin")
        tariffs[f"icp:{icp.identifier}"] = tariff.spec()
        pv = list(icp.pv_systems.all())
        battery = icp.batteries.first()
        ev = icp.evs.first()
        kwp = sum(float(p.capacity_kwp) for p in pv)
        homes.append(
            HomeSpec(
                key=key,
                latitude=float(icp.latitude)
                if icp.latitude is not None
                else scenario.community.latitude,
                longitude=float(icp.longitude)
                if icp.longitude is not None
                else scenario.community.longitude,
                annual_load_kwh=TYPICAL_LOAD_KWH,
                tariff=f"icp:{icp.identifier}",
                feeder=feeder_of[key],
                transformer=transformer_of[feeder_of[key]],
                pv_kwp=kwp,
                pv_tilt=float(pv[0].tilt_degrees) if pv else 25.0,
                pv_azimuth=float(pv[0].azimuth_degrees) % 360 if pv else 0.0,
                inverter_kw=sum(float(p.inverter_kw) for p in pv) or 5.0,
                battery_kwh=float(battery.capacity_kwh) if battery else 0.0,
                battery_kw=float(battery.power_kw) if battery else 0.0,
                battery_round_trip=float(battery.round_trip_efficiency) if battery else 0.9,
                battery_reserve=float(battery.min_state_of_charge) if battery else 0.1,
                # The co-op keeps no driving record: the scenario's typical daily driving.
                ev_kwh_per_day=(ev_range.low + ev_range.high) / 2 if ev else 0.0,
                ev_charger_kw=float(ev.charger_kw) if ev else 7.4,
                ev_plug_in_hour=_hour(ev.usual_plug_in) if ev else 18.0,
                ev_depart_hour=_hour(ev.usual_departure) if ev else 7.5,
                seed=scenario.seed * 100_003 + icp.pk,
                hardship=icp.member_id in hardship,
            )
        )
    others = tuple(
        OtherCustomers(
            key=key,
            feeder=feeder_of[key],
            transformer=transformer_of[feeder_of[key]],
            customers=int(feeder.other_customers),
            pv_kwp=float(feeder.other_pv_kwp),
            latitude=scenario.community.latitude,
            longitude=scenario.community.longitude,
            seed=scenario.seed * 100_003 + 7_000_000 + feeder.pk,
        )
        for key, (feeder, _) in model.others.items()
    )
    first = next(iter(by_pk.values()))
    return Community(
        name="the co-op's members",
        homes=tuple(homes),
        network=model.network,
        node=first.grid_exit_point or scenario.community.node,
        latitude=homes[0].latitude,
        longitude=homes[0].longitude,
        others=others,
        tariffs=tuple(tariffs.items()),
    )
