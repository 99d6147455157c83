"""Sharing with whānau and friends, and gifts to households in hardship: the only writers of
partner codes, partnerships, gift pledges and the hardship pool's recipients.

Each function is one transaction and refuses bad input whole (a ValidationError naming the
field and what to change), so nothing is half saved. The clearing reads what these write at
its next period (trading.sharing_selectors.arrangements_for): an arrangement added, ended or
declined here counts from the next clearing on, never in a period already cleared.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from coop import nz
from coop.models import Member
from trading.sharing_models import (
    CODE_LIFETIME,
    GiftPledge,
    HardshipRecipient,
    PartnerCode,
    Partnership,
)

PRICE_MAX_C = Decimal(100)  # as the model's validator: a partner price is 0 to 100 c/kWh
KWH_MAX = Decimal("99999.999")  # what a monthly cap or allowance column holds (8 digits, 3 dp)
MAGNITUDE_MAX = 10**9  # beyond any price, share or kWh here: refused before any arithmetic
# A code as people copy it: any case, with spaces or a dash in the middle.
CODE_SEPARATORS = str.maketrans("", "", " -")


def _places(places: int) -> str:
    return f"{places} decimal place{'' if places == 1 else 's'}"


def _number(value: object, field: str, what: str, places: int) -> Decimal:
    """`value` as a Decimal of at most `places` decimal places, or a refusal naming `field`."""
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError({field: f"Give the {what} as a number, not {value!r}."}) from None
    if not number.is_finite():
        raise ValidationError({field: f"Give the {what} as a number, not {value!r}."})
    # Bounded before quantize, which cannot hold 1e30 to a thousandth (InvalidOperation).
    if abs(number) >= MAGNITUDE_MAX:
        raise ValidationError({field: f"{number} is far too large for the {what}."})
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise ValidationError(
            {field: f"Give the {what} to at most {_places(places)}, e.g. {1:.{places}f}."}
        )
    return number


def _active(member: Member, doing: str) -> None:
    if member.status != Member.Status.ACTIVE:
        raise ValidationError(
            f"Only an active member can {doing}: your membership is {member.get_status_display()}."
        )


def _nz_time(instant: dt.datetime) -> str:
    return f"{timezone.localtime(instant, nz.NZ):%a %d %b %Y %H:%M} NZ time"


# --- partners --------------------------------------------------------------------------------


@transaction.atomic
def partner_code_issue(*, member: Member, now: dt.datetime | None = None) -> PartnerCode:
    """A fresh code for `member` to give someone who wants to share their solar with them.
    Every older code of theirs stops working now, so a code given out by mistake is withdrawn
    by issuing another."""
    now = now or timezone.now()
    _active(member, "receive shared solar")
    PartnerCode.objects.filter(member=member, expires_at__gt=now).update(expires_at=now)
    return PartnerCode.objects.create(member=member, created_at=now, expires_at=now + CODE_LIFETIME)


def _partner_of_code(seller: Member, code: str, now: dt.datetime) -> Member:
    typed = str(code or "").translate(CODE_SEPARATORS).upper()
    if not typed:
        raise ValidationError({"code": "Give the partner code your partner gave you."})
    found = PartnerCode.objects.select_related("member").filter(code=typed).first()
    if found is None:
        raise ValidationError(
            {
                "code": f"There is no partner code {typed}: check it with the person who gave it "
                "to you (codes are 8 letters and digits, e.g. K7QX2M9P)."
            }
        )
    if found.member_id == seller.pk:
        raise ValidationError({"code": "You cannot be your own partner: that is your own code."})
    if found.expires_at <= now:
        raise ValidationError(
            {
                "code": f"Partner code {typed} stopped working on {_nz_time(found.expires_at)}: "
                "ask your partner for a new one."
            }
        )
    if found.member.status != Member.Status.ACTIVE:
        # Said without the member's status: the seller learns nothing about them from a code.
        raise ValidationError({"code": f"Partner code {typed} cannot be used just now."})
    return found.member


def _price(price_c: object) -> Decimal:
    price = _number(price_c, "price_c", "price in c/kWh", 4)
    if not Decimal(0) <= price <= PRICE_MAX_C:
        raise ValidationError(
            {
                "price_c": f"The price must be from 0 to {PRICE_MAX_C} c/kWh excluding GST, not "
                f"{price}: 0 shares for free."
            }
        )
    return price


def _active_partnerships(seller: Member) -> list[Partnership]:
    return list(
        Partnership.objects.select_for_update()
        .filter(seller=seller, status=Partnership.Status.ACTIVE)
        .order_by("rank", "pk")
    )


def _renumber(partnerships: Sequence[Partnership]) -> None:
    """Ranks 1, 2, 3... in the given order, saving only those that change."""
    for rank, partnership in enumerate(partnerships, start=1):
        if partnership.rank != rank:
            partnership.rank = rank
            partnership.save(update_fields=["rank"])


@transaction.atomic
def partnership_add(
    *,
    seller: Member,
    code: str,
    price_c: Decimal | int | str,
    rank: int | None = None,
    now: dt.datetime | None = None,
) -> Partnership:
    """`seller` shares their surplus with the member whose code this is, at `price_c` c/kWh
    (excl. GST, zero allowed), served `rank`-th among their partners (last by default)."""
    now = now or timezone.now()
    _active(seller, "share solar")
    partner = _partner_of_code(seller, code, now)
    price = _price(price_c)
    current = _active_partnerships(seller)
    if any(p.partner_id == partner.pk for p in current):
        raise ValidationError(
            {
                "code": f"You already share with {partner.display_name}: change their place in "
                "your list, or end that arrangement first to set a new price."
            }
        )
    if rank is not None and not 1 <= rank <= len(current) + 1:
        raise ValidationError(
            {"rank": f"Give a place from 1 to {len(current) + 1} in your list, not {rank}."}
        )
    partnership = Partnership(
        seller=seller, partner=partner, price_c=price, rank=len(current) + 1, created_at=now
    )
    try:
        with transaction.atomic():
            partnership.save()
    except IntegrityError:  # added at the same moment in another request
        raise ValidationError({"code": f"You already share with {partner.display_name}."}) from None
    if rank is not None:
        _renumber([*current[: rank - 1], partnership, *current[rank - 1 :]])
    return partnership


@transaction.atomic
def partnership_reorder(*, seller: Member, ids: Sequence[int]) -> list[Partnership]:
    """The seller's active partners in the order `ids` gives (first is served first)."""
    current = {p.pk: p for p in _active_partnerships(seller)}
    try:
        wanted = [int(i) for i in ids]
    except (TypeError, ValueError):
        raise ValidationError("Give your partners' arrangements by their numbers.") from None
    if sorted(wanted) != sorted(current):
        raise ValidationError(
            "Give each of your active partners exactly once to set their order; your list has "
            "changed since the page was loaded, so reload it and try again."
        )
    ordered = [current[i] for i in wanted]
    _renumber(ordered)
    return ordered


@transaction.atomic
def partnership_end(
    *, member: Member, partnership: Partnership, now: dt.datetime | None = None
) -> Partnership:
    """The seller ends the arrangement, or the partner declines it: either way it stops from
    the next clearing on, and the seller's other partners move up."""
    now = now or timezone.now()
    partnership = Partnership.objects.select_for_update().get(pk=partnership.pk)
    if member.pk == partnership.seller_id:
        status = Partnership.Status.ENDED
    elif member.pk == partnership.partner_id:
        status = Partnership.Status.DECLINED
    else:
        raise PermissionDenied("This arrangement is not yours.")
    if partnership.status != Partnership.Status.ACTIVE:
        raise ValidationError(
            f"This arrangement already stopped ({partnership.get_status_display()})."
        )
    partnership.status = status
    partnership.ended_at = now
    partnership.save(update_fields=["status", "ended_at"])
    _renumber(_active_partnerships(partnership.seller))
    return partnership


# --- gifts to the hardship pool --------------------------------------------------------------


def _share(share_pct: object) -> Decimal:
    share = _number(share_pct, "share_pct", "share of your surplus in %", 1)
    if share > 100:
        raise ValidationError(
            {"share_pct": f"You cannot give more than all of your surplus: {share}% is over 100%."}
        )
    if share < 0:
        raise ValidationError({"share_pct": f"Give a share from 0 to 100%, not {share}%."})
    return share


def _kwh(value: object, field: str, what: str) -> Decimal:
    kwh = _number(value, field, what, 3)
    if kwh <= 0:
        raise ValidationError({field: f"The {what} must be more than 0 kWh, not {kwh}."})
    if kwh > KWH_MAX:
        raise ValidationError({field: f"The {what} can be at most {KWH_MAX} kWh, not {kwh}."})
    return kwh


@transaction.atomic
def gift_pledge_set(
    *,
    member: Member,
    share_pct: Decimal | int | str,
    monthly_cap_kwh: Decimal | int | str | None,
) -> GiftPledge:
    """`member` gives `share_pct` % of the surplus they offer each period to the hardship pool,
    at most `monthly_cap_kwh` a month (None or empty: no cap)."""
    _active(member, "give to the hardship pool")
    share = _share(share_pct)
    blank = monthly_cap_kwh is None or str(monthly_cap_kwh).strip() == ""
    cap = None if blank else _kwh(monthly_cap_kwh, "monthly_cap_kwh", "monthly cap")
    pledge, _ = GiftPledge.objects.update_or_create(
        member=member, defaults={"share_pct": share, "monthly_cap_kwh": cap, "active": True}
    )
    return pledge


@transaction.atomic
def gift_pledge_stop(*, member: Member) -> GiftPledge:
    """No more gifts from the next clearing on; what was given stays given."""
    pledge = GiftPledge.objects.select_for_update().filter(member=member, active=True).first()
    if pledge is None:
        raise ValidationError("You have no gift to the hardship pool to stop.")
    pledge.active = False
    pledge.save(update_fields=["active", "updated_at"])
    return pledge


# --- the pool's recipients (staff only) ------------------------------------------------------


@transaction.atomic
def hardship_recipient_set(
    *,
    member: Member | None,
    monthly_allowance_kwh: Decimal | int | str,
    active: bool = True,
    note: str | None = None,
) -> HardshipRecipient:
    """The co-op (staff only: the admin is the one caller) marks `member` as receiving from the
    hardship pool, up to `monthly_allowance_kwh` a month at no energy price. `active=False`
    stops it from the next clearing; `note` (staff only) is kept unless given."""
    if not isinstance(member, Member) or member.pk is None:
        raise ValidationError({"member": "Choose a co-op member to receive from the pool."})
    if member.status != Member.Status.ACTIVE:
        raise ValidationError(
            {
                "member": f"{member.display_name} is {member.get_status_display().lower()}, not "
                "an active member: only an active member can receive from the pool."
            }
        )
    allowance = _kwh(monthly_allowance_kwh, "monthly_allowance_kwh", "monthly allowance")
    defaults: dict[str, object] = {"monthly_allowance_kwh": allowance, "active": active}
    if note is not None:
        defaults["note"] = note
    recipient, _ = HardshipRecipient.objects.update_or_create(member=member, defaults=defaults)
    return recipient
