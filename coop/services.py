"""Writes of co-op data. Every write validates the whole object first and saves all or nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from coop import nz
from coop.models import ICP, ICPHolding, Member, Tariff, TariffRate
from coop.tariffs import TariffError


@transaction.atomic
def member_create(
    *,
    username: str,
    email: str,
    password: str | None,
    display_name: str,
    status: str = Member.Status.ACTIVE,
    joined_on: dt.date | None = None,
    phone: str = "",
    is_staff: bool = False,
) -> Member:
    user_model = get_user_model()
    user = user_model(username=username, email=email, is_staff=is_staff, is_superuser=is_staff)
    user.set_password(password) if password else user.set_unusable_password()
    user.full_clean()
    user.save()
    member = Member(
        user=user,
        display_name=display_name,
        status=status,
        joined_on=joined_on or nz.today(),
        phone=phone,
    )
    member.full_clean()
    member.save()
    return member


@transaction.atomic
def icp_assign_member(*, icp: ICP, member: Member | None, on: dt.date) -> ICP:
    """Move an ICP to a new holder (or to none) from `on`, keeping the history of holders."""
    current = ICPHolding.objects.select_for_update().filter(icp=icp, ended_on__isnull=True).first()
    if current and current.member_id == (member.pk if member else None):
        return icp
    if current:
        if on < current.started_on:
            raise ValidationError(
                f"{icp} has been held by {current.member} since {current.started_on}; "
                f"a new holder cannot start earlier ({on})."
            )
        current.ended_on = on
        current.save(update_fields=["ended_on"])
    if member is not None:
        ICPHolding.objects.create(icp=icp, member=member, started_on=on)
    icp.member = member
    icp.save(update_fields=["member"])
    return icp


@transaction.atomic
def icp_create(*, member: Member | None, on: dt.date | None = None, **fields: Any) -> ICP:
    icp = ICP(**fields)
    icp.full_clean()
    icp.save()
    if member is not None:
        icp_assign_member(icp=icp, member=member, on=on or nz.today())
    return icp


@transaction.atomic
def tariff_create(*, icp: ICP, rates: Iterable[Mapping[str, Any]], **fields: Any) -> Tariff:
    """A tariff with its rate windows, refused whole unless every half hour is priced once."""
    tariff = Tariff(icp=icp, **fields)
    tariff.full_clean()
    rate_rows = [TariffRate(**rate) for rate in rates]
    for row in rate_rows:
        # The parent is not saved yet, so each row is checked without its foreign key.
        row.clean_fields(exclude=["tariff"])
        row.clean()
    tariff_rates_check(tariff, rate_rows)
    tariff.save()
    for row in rate_rows:
        row.tariff = tariff
    TariffRate.objects.bulk_create(rate_rows)
    return tariff


def tariff_rates_check(tariff: Tariff, rates: Iterable[TariffRate]) -> None:
    """Raise ValidationError unless these rates price every half hour exactly once."""
    try:
        tariff.spec(list(rates)).validate()
    except TariffError as exc:
        raise ValidationError(str(exc)) from exc
