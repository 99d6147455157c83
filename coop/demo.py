"""The demo co-op: about twenty households in Ellerslie, Auckland, on two LV feeders under PEN0331.

Deterministic (a fixed seed) and idempotent: every row is found by its natural key first, so
running the seed twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction

from coop import nz, services
from coop.models import (
    ICP,
    Battery,
    CoopSettings,
    ElectricVehicle,
    Feeder,
    LineSegment,
    Member,
    PVSystem,
    Transformer,
)

DEMO_PASSWORD = "hapori-demo"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "hapori-admin"
DEMO_RESIDENTS = ("aroha", "ben", "mere")
GRID_EXIT_POINT = "PEN0331"
DEMO_START = dt.date(2026, 4, 1)

# Real streets of Ellerslie and Greenlane East, with points on them (WGS84).
FEEDERS = {
    "ELL-T14 Ballarat St": [
        ("12 Ballarat Street, Ellerslie", "-36.898410", "174.813020"),
        ("18 Ballarat Street, Ellerslie", "-36.898770", "174.813550"),
        ("25 Ballarat Street, Ellerslie", "-36.899150", "174.814180"),
        ("7 Arthur Street, Ellerslie", "-36.897820", "174.811850"),
        ("15 Arthur Street, Ellerslie", "-36.898230", "174.811260"),
        ("4 Cawley Street, Ellerslie", "-36.896890", "174.812640"),
        ("11 Cawley Street, Ellerslie", "-36.896560", "174.813390"),
        ("20 Findlay Street, Ellerslie", "-36.899900", "174.812210"),
        ("31 Findlay Street, Ellerslie", "-36.900450", "174.812820"),
        ("9 Marua Road, Ellerslie", "-36.899350", "174.816040"),
    ],
    "ELL-T22 Michaels Ave": [
        ("3 Michaels Avenue, Ellerslie", "-36.903210", "174.815320"),
        ("14 Michaels Avenue, Ellerslie", "-36.903880", "174.816110"),
        ("27 Michaels Avenue, Ellerslie", "-36.904520", "174.817050"),
        ("6 Mahoe Avenue, Ellerslie", "-36.902610", "174.817830"),
        ("19 Mahoe Avenue, Ellerslie", "-36.902100", "174.818720"),
        ("8 Rockfield Road, Ellerslie", "-36.905240", "174.814630"),
        ("22 Rockfield Road, Ellerslie", "-36.905860", "174.815480"),
        ("5 Koraha Street, Remuera", "-36.901720", "174.814020"),
        ("40 Hewson Street, Penrose", "-36.906470", "174.816900"),
        ("2 Robert Street, Ellerslie", "-36.901150", "174.816480"),
    ],
}


@dataclass(frozen=True)
class FeederPlan:
    """A demo feeder: its pole-mount transformer and the customers on it who are not members.

    Sized as an Auckland distributor would: a 200-300 kVA 11/0.415 kV pole-mount unit serves
    70-130 houses at an after-diversity winter peak of about 2 kW each (the GREEN Grid mean
    evening is 1.7 kW); about one house in six of the others has rooftop solar (5-6 kWp).
    """

    transformer: str
    rating_kva: int
    latitude: str
    longitude: str
    other_customers: int
    other_pv_kwp: int


NETWORK = {
    "ELL-T14 Ballarat St": FeederPlan("ELL-T14", 200, "-36.898600", "174.812700", 92, 95),
    "ELL-T22 Michaels Ave": FeederPlan("ELL-T22", 300, "-36.903500", "174.815900", 150, 150),
}
LV_MAIN = "94-AL1/15-ST1A 0.4"  # overhead ACSR on poles, as most of Ellerslie's LV is
STREET_FACTOR = Decimal("1.25")  # cables follow streets, not straight lines


def _metres(a: tuple[Decimal, Decimal], b: tuple[Decimal, Decimal]) -> Decimal:
    """Distance along the ground (equirectangular: plenty for a few hundred metres)."""
    lat = math.radians(float(a[0] + b[0]) / 2)
    dy = float(a[0] - b[0]) * 111_320
    dx = float(a[1] - b[1]) * 111_320 * math.cos(lat)
    return Decimal(str(round(math.hypot(dx, dy), 1)))


def _seed_network(homes: list[Household]) -> dict[str, tuple[Feeder, dict[str, LineSegment]]]:
    """Each feeder's transformer and its LV main: a pole outside each member's house, strung
    from the transformer to the nearest pole not yet reached, then on from there."""
    result = {}
    for name, plan in NETWORK.items():
        transformer, _ = Transformer.objects.get_or_create(
            name=plan.transformer,
            defaults={
                "rating_kva": Decimal(plan.rating_kva),
                "grid_exit_point": GRID_EXIT_POINT,
                "latitude": Decimal(plan.latitude),
                "longitude": Decimal(plan.longitude),
            },
        )
        feeder, _ = Feeder.objects.get_or_create(
            name=name,
            defaults={
                "transformer": transformer,
                "other_customers": plan.other_customers,
                "other_pv_kwp": Decimal(plan.other_pv_kwp),
            },
        )
        poles: dict[str, LineSegment] = {}
        here = (transformer.latitude, transformer.longitude)
        upstream: LineSegment | None = None
        left = [h for h in homes if h.feeder == name]
        while left:
            home = min(left, key=lambda h: _metres(here, (h.latitude, h.longitude)))
            left.remove(home)
            there = (home.latitude, home.longitude)
            pole = f"Pole at {home.address.split(',')[0]}"
            segment, _ = LineSegment.objects.get_or_create(
                feeder=feeder,
                name=pole,
                defaults={
                    "upstream": upstream,
                    "length_m": max(_metres(here, there) * STREET_FACTOR, Decimal(10)),
                    "cable_type": LV_MAIN,
                },
            )
            poles[home.address] = segment
            upstream, here = segment, there
        result[name] = (feeder, poles)
    return result


NAMES = [
    "Aroha Ngata",
    "Ben Fletcher",
    "Mere Tipene",
    "Priya Raman",
    "Tom Walker",
    "Sione Taufa",
    "Grace Liu",
    "Hemi Parata",
    "Olivia Brown",
    "Rangi Kereama",
    "Anjali Mehta",
    "James Wilson",
    "Leilani Faleolo",
    "Hannah Smith",
    "Wiremu Hohaia",
    "Chloe Martin",
    "Daniel Kim",
    "Ngaio Marsh",
    "Sam Patel",
    "Kiri Harawira",
]


# 12 of 20 homes with PV (60%), 5 with batteries (25%, all with PV), 4 with EVs (20%).
PV_HOMES = frozenset({0, 1, 3, 4, 5, 6, 8, 10, 11, 13, 15, 16})
BATTERY_HOMES = frozenset({0, 5, 10, 13, 16})
EV_HOMES = frozenset({1, 7, 12, 17})


@dataclass(frozen=True)
class Household:
    username: str
    name: str
    address: str
    latitude: Decimal
    longitude: Decimal
    feeder: str
    pv_kwp: Decimal | None
    battery_kwh: Decimal | None
    ev_kwh: Decimal | None


def demo_icp(n: int) -> str:
    base = f"{1_002_345_600 + n * 17:010d}UN"  # UN: Vector's ICPs (ex United Networks)
    return base + nz.icp_checksum(base)


def households() -> list[Household]:
    """The community, the same every time: about 60% PV, 25% batteries, 20% EVs."""
    rng = random.Random(20260401)
    sites = [(feeder, *site) for feeder, streets in FEEDERS.items() for site in streets]
    result = []
    for i, ((feeder, address, lat, lon), name) in enumerate(zip(sites, NAMES, strict=True)):
        username = DEMO_RESIDENTS[i] if i < len(DEMO_RESIDENTS) else name.split()[0].lower()
        # The three demo logins show the three kinds of home: solar+battery, solar+EV, no solar.
        has_pv = i in PV_HOMES
        has_battery = i in BATTERY_HOMES
        has_ev = i in EV_HOMES
        result.append(
            Household(
                username=username,
                name=name,
                address=address,
                latitude=Decimal(lat),
                longitude=Decimal(lon),
                feeder=feeder,
                pv_kwp=Decimal(rng.choice(["3.3", "4.4", "5.0", "6.6", "7.2", "8.0"]))
                if has_pv
                else None,
                battery_kwh=Decimal(rng.choice(["9.6", "10.0", "13.5"])) if has_battery else None,
                ev_kwh=Decimal(rng.choice(["40", "60", "64", "75"])) if has_ev else None,
            )
        )
    return result


def _tariff_rates(flat: bool, rng: random.Random) -> list[dict]:
    lines_peak = [
        {
            "kind": "lines",
            "label": "Peak",
            "days": "Mon-Fri",
            "start_time": dt.time(7),
            "end_time": dt.time(11),
            "months": "Apr-Sep",
            "rate_c": Decimal("13.570"),
        },
        {
            "kind": "lines",
            "label": "Peak",
            "days": "Mon-Fri",
            "start_time": dt.time(17),
            "end_time": dt.time(21),
            "months": "Apr-Sep",
            "rate_c": Decimal("13.570"),
        },
        {
            "kind": "lines",
            "label": "Off-peak",
            "days": "Mon-Fri",
            "start_time": dt.time(21),
            "end_time": dt.time(7),
            "months": "Apr-Sep",
            "rate_c": Decimal("0"),
        },
        {
            "kind": "lines",
            "label": "Off-peak",
            "days": "Mon-Fri",
            "start_time": dt.time(11),
            "end_time": dt.time(17),
            "months": "Apr-Sep",
            "rate_c": Decimal("0"),
        },
        {
            "kind": "lines",
            "label": "Off-peak",
            "days": "Sat,Sun",
            "months": "Apr-Sep",
            "rate_c": Decimal("0"),
        },
        {
            "kind": "lines",
            "label": "Off-peak",
            "days": "All",
            "months": "Oct-Mar",
            "rate_c": Decimal("0"),
        },
    ]
    if flat:
        anytime = Decimal(rng.choice(["31.90", "32.70", "33.40", "34.10"]))
        return [{"kind": "import", "label": "Anytime", "rate_c": anytime}, *lines_peak]
    return [
        {
            "kind": "import",
            "label": "Night",
            "start_time": dt.time(23),
            "end_time": dt.time(7),
            "rate_c": Decimal("19.80"),
        },
        {
            "kind": "import",
            "label": "Peak",
            "days": "Mon-Fri",
            "start_time": dt.time(7),
            "end_time": dt.time(11),
            "rate_c": Decimal("38.60"),
        },
        {
            "kind": "import",
            "label": "Peak",
            "days": "Mon-Fri",
            "start_time": dt.time(17),
            "end_time": dt.time(21),
            "rate_c": Decimal("38.60"),
        },
        {
            "kind": "import",
            "label": "Off-peak",
            "days": "Mon-Fri",
            "start_time": dt.time(11),
            "end_time": dt.time(17),
            "rate_c": Decimal("29.90"),
        },
        {
            "kind": "import",
            "label": "Off-peak",
            "days": "Mon-Fri",
            "start_time": dt.time(21),
            "end_time": dt.time(23),
            "rate_c": Decimal("29.90"),
        },
        {
            "kind": "import",
            "label": "Off-peak",
            "days": "Sat,Sun",
            "start_time": dt.time(7),
            "end_time": dt.time(23),
            "rate_c": Decimal("29.90"),
        },
        *lines_peak,
    ]


@transaction.atomic
def seed() -> dict:
    """Create (or find) the demo co-op. Returns the logins to print."""
    rng = random.Random(7)
    settings_row = CoopSettings.load()
    if settings_row.name != "Ellerslie Energy Co-op":
        settings_row.name = "Ellerslie Energy Co-op"
        settings_row.save()

    user_model = get_user_model()
    if not user_model.objects.filter(username=ADMIN_USERNAME).exists():
        services.member_create(
            username=ADMIN_USERNAME,
            email="admin@ellerslie-energy.nz",
            password=ADMIN_PASSWORD,
            display_name="Co-op admin",
            is_staff=True,
            joined_on=DEMO_START,
        )

    retailers = [
        ("Mercury", "Anytime Solar"),
        ("Contact", "Good Nights"),
        ("Octopus", "Octopus Fixed"),
        ("Electric Kiwi", "MoveMaster"),
        ("Meridian", "Solar Simple"),
    ]
    homes = households()
    network = _seed_network(homes)
    for n, home in enumerate(homes, start=1):
        member = Member.objects.filter(user__username=home.username).first()
        if member is None:
            member = services.member_create(
                username=home.username,
                email=f"{home.username}@example.nz",
                password=DEMO_PASSWORD,
                display_name=home.name,
                joined_on=DEMO_START,
            )
        identifier = demo_icp(n)
        if ICP.objects.filter(identifier=identifier).exists():
            continue
        icp = services.icp_create(
            member=member,
            on=DEMO_START,
            identifier=identifier,
            address=home.address,
            grid_exit_point=GRID_EXIT_POINT,
            feeder=network[home.feeder][0],
            connection_segment=network[home.feeder][1][home.address],
            service_length_m=Decimal(12 + (n * 7) % 14),
            latitude=home.latitude,
            longitude=home.longitude,
        )
        if home.pv_kwp:
            inverter = min(home.pv_kwp, Decimal("5.0")) if home.pv_kwp > 5 else home.pv_kwp
            PVSystem.objects.create(
                icp=icp,
                capacity_kwp=home.pv_kwp,
                inverter_kw=inverter,
                tilt_degrees=Decimal(rng.choice([15, 20, 25, 30])),
                azimuth_degrees=Decimal(rng.choice([0, 0, 15, 345, 30, 330])),
            )
        if home.battery_kwh:
            Battery.objects.create(icp=icp, capacity_kwh=home.battery_kwh, power_kw=Decimal("5.0"))
        if home.ev_kwh:
            ElectricVehicle.objects.create(
                icp=icp,
                battery_kwh=home.ev_kwh,
                charger_kw=Decimal("7.4"),
                usual_plug_in=dt.time(18, 30),
                usual_departure=dt.time(7, 30),
            )
        retailer, plan = retailers[n % len(retailers)]
        flat = n % 3 != 1
        services.tariff_create(
            icp=icp,
            retailer=retailer,
            plan_name=plan,
            effective_from=DEMO_START,
            daily_fixed_c=Decimal("180.000") if n % 2 else Decimal("239.200"),
            buyback_c=Decimal(rng.choice(["8.000", "12.000", "12.500", "13.000", "17.000"])),
            rates=_tariff_rates(flat, rng),
        )
    return {
        "admin": (ADMIN_USERNAME, ADMIN_PASSWORD),
        "residents": [(u, DEMO_PASSWORD) for u in DEMO_RESIDENTS],
    }
