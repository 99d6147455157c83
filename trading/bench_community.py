"""A large co-op for the speed benches: N members, each with a login, an ICP (a valid NZ
checksum), a meter, a flat tariff and, for the API benches, a DRF token.

Built with bulk statements (5,000 members take a few seconds, not minutes) and kept between
runs: the next bench finds the rows by their natural keys and adds only what is missing.
Bench members are named `<prefix>-00001`...; their ICPs use numbers no real distributor
issues (9_9xx_xxx_xxx with the code BN), so they can never be mistaken for a real ICP.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from rest_framework.authtoken.models import Token

from coop import nz
from coop.models import ICP, ICPHolding, Member, Tariff, TariffRate
from metering.bench_data import icp_readings_delete
from metering.models import Meter, Reading
from trading.models import (
    FeederPrice,
    MemberPeriodSummary,
    Order,
    SettlementAmendment,
    SettlementHold,
    SettlementLine,
    Trade,
    TradingPeriod,
)

BENCH_PASSWORD = "hapori-bench"  # bench logins, on a bench database
FIRST_DAY = dt.date(2000, 1, 1)  # before the benches' trading day, 3 January 2000


def bench_icp(n: int) -> str:
    base = f"{9_900_000_000 + n:010d}BN"
    return base + nz.icp_checksum(base)


@transaction.atomic
def bench_members_ensure(*, count: int, prefix: str = "bench") -> list[Member]:
    """The first `count` bench members (created where missing), in order, users selected."""
    user_model = get_user_model()
    names = [f"{prefix}-{n:05d}" for n in range(1, count + 1)]
    have = set(user_model.objects.filter(username__in=names).values_list("username", flat=True))
    missing = [name for name in names if name not in have]
    if missing:
        password = make_password(BENCH_PASSWORD)  # hashed once: the same password for each
        user_model.objects.bulk_create(
            [
                user_model(username=name, email=f"{name}@bench.invalid", password=password)
                for name in missing
            ]
        )
        users = user_model.objects.filter(username__in=missing)
        Member.objects.bulk_create(
            [
                Member(
                    user=user,
                    display_name=user.username,
                    status=Member.Status.ACTIVE,
                    joined_on=FIRST_DAY,
                )
                for user in users
            ]
        )
    members = list(
        Member.objects.filter(user__username__in=names)
        .select_related("user")
        .order_by("user__username")
    )
    ids = [m.pk for m in members]
    holding = set(ICP.objects.filter(member_id__in=ids).values_list("member_id", flat=True))
    if without_icp := [m for m in members if m.pk not in holding]:
        _icps_create(members, without_icp)
    tokened = set(Token.objects.filter(user__member__in=ids).values_list("user_id", flat=True))
    Token.objects.bulk_create(
        [Token(user=m.user, key=secrets.token_hex(20)) for m in members if m.user_id not in tokened]
    )
    return members


def _icps_create(members: list[Member], without_icp: list[Member]) -> None:
    number = {m.pk: i for i, m in enumerate(members, start=1)}
    icps = ICP.objects.bulk_create(
        [
            ICP(
                identifier=bench_icp(number[m.pk]),
                member=m,
                address=f"{number[m.pk]} Bench Road, Ellerslie",
                grid_exit_point="PEN0331",
                latitude=Decimal("-36.898"),
                longitude=Decimal("174.813"),
            )
            for m in without_icp
        ]
    )
    ICPHolding.objects.bulk_create(
        [ICPHolding(icp=icp, member=icp.member, started_on=FIRST_DAY) for icp in icps]
    )
    Meter.objects.bulk_create([Meter(icp=icp, adapter=Meter.Adapter.FILE) for icp in icps])
    tariffs = Tariff.objects.bulk_create(
        [
            Tariff(
                icp=icp,
                retailer="Bench Energy",
                plan_name="Flat",
                effective_from=FIRST_DAY,
                daily_fixed_c=Decimal("230.000"),
                buyback_c=Decimal("12.000"),
            )
            for icp in icps
        ]
    )
    TariffRate.objects.bulk_create(
        [TariffRate(tariff=t, label="Anytime", rate_c=Decimal("32.000")) for t in tariffs]
    )


@transaction.atomic
def bench_members_remove(*, prefix: str = "bench") -> int:
    """Remove the bench members and everything of theirs (benches remove their periods first)."""
    members = Member.objects.filter(user__username__startswith=f"{prefix}-")
    icps = ICP.objects.filter(member__in=members)
    TariffRate.objects.filter(tariff__icp__in=icps).delete()
    Tariff.objects.filter(icp__in=icps).delete()
    Meter.objects.filter(icp__in=icps).delete()
    ICPHolding.objects.filter(member__in=members).delete()
    user_ids = list(members.values_list("user_id", flat=True))
    # Whatever readings they still hold (a bench killed before its own clean-up leaves them):
    # each would refuse its ICP's deletion, and the refusal names every one.
    icp_readings_delete(list(icps.values_list("pk", flat=True)))
    icps.delete()
    removed = members.delete()[0]
    get_user_model().objects.filter(pk__in=user_ids).delete()
    return removed


def bench_period(
    *, day: dt.date, number: int, gate_closes_at: dt.datetime | None = None
) -> TradingPeriod:
    """Trading period `number` of `day` (a day no co-op trades), gate closing when given."""
    start = nz.trading_period_start(day, number)
    return TradingPeriod.objects.create(
        trading_date=day,
        number=number,
        start=start,
        end=start + nz.TRADING_PERIOD,
        gate_closes_at=gate_closes_at or start - dt.timedelta(minutes=5),
    )


def bench_book_fill(period: TradingPeriod, members: list[Member], count: int) -> None:
    """`count` orders written in bulk, as a book filled over the hours before gate closure
    would be: each member buys or sells by position (every second one sells, as
    bench_orders gives those solar and a battery; never both, as placement insists), 0.1-2 kWh
    at 15-30 c, so that about half the volume matches."""
    rng = random.Random(period.start.timestamp())
    icps = dict(Member.objects.filter(pk__in=[m.pk for m in members]).values_list("pk", "icps__pk"))
    at = period.gate_closes_at - dt.timedelta(minutes=10)
    Order.objects.bulk_create(
        (
            Order(
                period=period,
                member=members[n % len(members)],
                icp_id=icps[members[n % len(members)].pk],
                side=Order.Side.SELL if n % len(members) % 2 else Order.Side.BUY,
                energy_kwh=Decimal(rng.randint(100, 2000)) / 1000,
                limit_price_c=Decimal(rng.randint(1500, 3000)) / 100,
                submitted_at=at + dt.timedelta(microseconds=n),
            )
            for n in range(count)
        ),
        batch_size=5000,
    )
    if connection.vendor == "postgresql":
        # Autovacuum analyses the table as a real book fills over hours; a bulk fill a moment
        # before the gate would leave the planner believing the period holds nothing (the
        # clearing's order updates then take 3.4 s instead of 1.4 s for 20,000 orders).
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(Order._meta.db_table)}")


@transaction.atomic
def bench_periods_remove(*, day: dt.date) -> None:
    """The bench periods of `day` and everything written for them."""
    bench = TradingPeriod.objects.filter(trading_date=day)
    starts = list(bench.values_list("start", flat=True))
    for model in (
        SettlementLine,
        SettlementAmendment,
        MemberPeriodSummary,
        SettlementHold,
        Trade,
        FeederPrice,
        Order,
    ):
        model.objects.filter(period__in=bench).delete()
    Reading.objects.filter(interval_start__in=starts, source="bench").delete()
    bench.delete()
