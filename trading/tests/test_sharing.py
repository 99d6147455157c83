"""Sharing with partners and gifts to the hardship pool, from the residents' and the admin's
side: every refusal of trading.services.sharing (nothing saved), the partner and gift flows
through the page, the hardship pool set by staff only, the statement's sharing figures, and
privacy: no page, API or websocket payload tells a donor who received, or a recipient who gave.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from conftest import give_flat_tariff, make_member
from coop.models import Member
from trading.models import MemberPeriodSummary, SettlementLine, Trade, TradingPeriod
from trading.services import sharing
from trading.sharing_models import (
    CODE_LIFETIME,
    GiftPledge,
    HardshipRecipient,
    PartnerCode,
    Partnership,
)
from trading.tests.conftest import MARKET_NOW

pytestmark = pytest.mark.django_db

NOW = MARKET_NOW  # 12:00 NZST, Wednesday 8 July 2026
MONTH = "2026-07"


def _counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count() for model in (PartnerCode, Partnership, GiftPledge, HardshipRecipient)
    )


def _refused(call, match: str, exc: type[Exception] = ValidationError) -> None:
    """`call` is refused with a message matching `match`, and saves nothing."""
    before = _counts()
    with pytest.raises(exc, match=match):
        call()
    assert _counts() == before


# --- the services' refusals ------------------------------------------------------------------


def test_a_partner_code_is_eight_characters_and_a_new_one_stops_the_old(resident):
    old = sharing.partner_code_issue(member=resident, now=timezone.now() - dt.timedelta(days=1))
    new = sharing.partner_code_issue(member=resident)
    assert re.fullmatch(r"[A-Z2-9]{8}", new.code)
    assert new.expires_at - new.created_at == CODE_LIFETIME
    old.refresh_from_db()
    assert old.expired
    assert not new.expired


def test_partner_refusals_save_nothing(resident, other_resident):
    own = sharing.partner_code_issue(member=resident)
    _refused(
        lambda: sharing.partnership_add(seller=resident, code=own.code, price_c="5"),
        "You cannot be your own partner",
    )
    _refused(
        lambda: sharing.partnership_add(seller=resident, code="ZZZZ9999", price_c="5"),
        "There is no partner code ZZZZ9999",
    )
    _refused(
        lambda: sharing.partnership_add(seller=resident, code="", price_c="5"), "Give the partner"
    )
    theirs = sharing.partner_code_issue(member=other_resident)
    for price, match in (
        ("-0.01", "from 0 to 100 c/kWh"),
        ("100.01", "from 0 to 100 c/kWh"),
        ("cheap", "as a number"),
        ("NaN", "as a number"),
        ("1.23456", "at most 4 decimal places"),
        ("1e300", "far too large"),
    ):
        _refused(
            lambda p=price: sharing.partnership_add(seller=resident, code=theirs.code, price_c=p),
            match,
        )
    _refused(
        lambda: sharing.partnership_add(seller=resident, code=theirs.code, price_c="5", rank=3),
        "a place from 1 to 1",
    )
    # Typed in lower case with a space, as people copy codes: still theirs.
    typed = f"{theirs.code[:4].lower()} {theirs.code[4:]}"
    sharing.partnership_add(seller=resident, code=typed, price_c="0")
    _refused(
        lambda: sharing.partnership_add(seller=resident, code=theirs.code, price_c="3"),
        "You already share with Other",
    )


def test_an_expired_or_withdrawn_code_is_refused(resident, other_resident):
    expired = sharing.partner_code_issue(
        member=other_resident, now=timezone.now() - CODE_LIFETIME - dt.timedelta(minutes=1)
    )
    _refused(
        lambda: sharing.partnership_add(seller=resident, code=expired.code, price_c="5"),
        "stopped working on .* NZ time: ask your partner for a new one",
    )
    withdrawn = sharing.partner_code_issue(member=other_resident)
    sharing.partner_code_issue(member=other_resident)
    _refused(
        lambda: sharing.partnership_add(seller=resident, code=withdrawn.code, price_c="5"),
        "stopped working",
    )


def test_a_code_of_a_member_who_cannot_trade_says_nothing_about_them(resident, other_resident):
    code = sharing.partner_code_issue(member=other_resident)
    Member.objects.filter(pk=other_resident.pk).update(status=Member.Status.SUSPENDED)
    with pytest.raises(ValidationError) as refused:
        sharing.partnership_add(seller=resident, code=code.code, price_c="5")
    assert "cannot be used just now" in str(refused.value)
    assert "suspend" not in str(refused.value).lower()
    assert not Partnership.objects.exists()


def _partners(seller, *names):
    made = []
    for n, name in enumerate(names, start=40):
        partner = make_member(name, n)
        code = sharing.partner_code_issue(member=partner)
        made.append(sharing.partnership_add(seller=seller, code=code.code, price_c="4"))
    return made


def test_partners_rank_last_by_default_or_where_asked_and_reorder(resident):
    first, second = _partners(resident, "aroha", "manaia")
    assert (first.rank, second.rank) == (1, 2)
    third_member = make_member("wiremu", 50)
    code = sharing.partner_code_issue(member=third_member)
    third = sharing.partnership_add(seller=resident, code=code.code, price_c="0", rank=1)
    ranks = dict(Partnership.objects.values_list("pk", "rank"))
    assert ranks == {third.pk: 1, first.pk: 2, second.pk: 3}
    sharing.partnership_reorder(seller=resident, ids=[second.pk, first.pk, third.pk])
    assert dict(Partnership.objects.values_list("pk", "rank")) == {
        second.pk: 1,
        first.pk: 2,
        third.pk: 3,
    }
    for ids in ([second.pk, first.pk], [first.pk, first.pk, third.pk], ["x"]):
        before = dict(Partnership.objects.values_list("pk", "rank"))
        with pytest.raises(ValidationError):
            sharing.partnership_reorder(seller=resident, ids=ids)
        assert dict(Partnership.objects.values_list("pk", "rank")) == before


def test_ending_declining_and_strangers(resident, other_resident):
    from trading.sharing_selectors import arrangements_for

    stranger = make_member("stranger", 60)
    code = sharing.partner_code_issue(member=other_resident)
    partnership = sharing.partnership_add(seller=resident, code=code.code, price_c="2")
    period = TradingPeriod(trading_date=dt.date(2026, 7, 8), start=NOW)
    assert arrangements_for(period=period, member_ids=[resident.pk, other_resident.pk]).partners
    with pytest.raises(PermissionDenied):
        sharing.partnership_end(member=stranger, partnership=partnership)
    declined = sharing.partnership_end(member=other_resident, partnership=partnership)
    assert declined.status == Partnership.Status.DECLINED
    assert declined.ended_at
    # From the next clearing on, the arrangement is gone.
    assert not arrangements_for(period=period, member_ids=[resident.pk, other_resident.pk])
    with pytest.raises(ValidationError, match="already stopped"):
        sharing.partnership_end(member=resident, partnership=partnership)
    again = sharing.partnership_add(seller=resident, code=code.code, price_c="2")
    assert sharing.partnership_end(member=resident, partnership=again).status == "ended"


def test_gift_pledge_refusals_save_nothing(resident):
    for share, cap, match in (
        ("100.1", None, "over 100%"),
        ("150", None, "over 100%"),
        ("-1", None, "from 0 to 100%"),
        ("10.55", None, "at most 1 decimal place,"),
        ("ten", None, "as a number"),
        ("10", "0", "more than 0 kWh"),
        ("10", "-2", "more than 0 kWh"),
        ("10", "1.2345", "at most 3 decimal places"),
        ("10", "100000", "at most 99999.999 kWh"),
    ):
        _refused(
            lambda s=share, c=cap: sharing.gift_pledge_set(
                member=resident, share_pct=s, monthly_cap_kwh=c
            ),
            match,
        )
    _refused(lambda: sharing.gift_pledge_stop(member=resident), "no gift")


def test_a_gift_pledge_is_set_changed_and_stopped(resident):
    pledge = sharing.gift_pledge_set(member=resident, share_pct="10", monthly_cap_kwh="")
    assert (pledge.share_pct, pledge.monthly_cap_kwh, pledge.active) == (10, None, True)
    pledge = sharing.gift_pledge_set(member=resident, share_pct="100", monthly_cap_kwh="25.5")
    assert (pledge.share_pct, pledge.monthly_cap_kwh) == (100, Decimal("25.500"))
    assert GiftPledge.objects.count() == 1
    assert sharing.gift_pledge_stop(member=resident).active is False
    _refused(lambda: sharing.gift_pledge_stop(member=resident), "no gift")


def test_hardship_recipient_refusals_save_nothing(resident, other_resident):
    _refused(
        lambda: sharing.hardship_recipient_set(member=None, monthly_allowance_kwh="10"),
        "Choose a co-op member",
    )
    Member.objects.filter(pk=other_resident.pk).update(status=Member.Status.LEFT)
    other_resident.refresh_from_db()
    _refused(
        lambda: sharing.hardship_recipient_set(member=other_resident, monthly_allowance_kwh="10"),
        "Other is left, not an active member",
    )
    for allowance, match in (("0", "more than 0 kWh"), ("-5", "more than 0 kWh"), ("x", "number")):
        _refused(
            lambda a=allowance: sharing.hardship_recipient_set(
                member=resident, monthly_allowance_kwh=a
            ),
            match,
        )
    recipient = sharing.hardship_recipient_set(member=resident, monthly_allowance_kwh="30")
    assert recipient.monthly_allowance_kwh == Decimal("30.000")
    assert recipient.active


# --- the page, end to end --------------------------------------------------------------------


def _signed_in(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def test_partner_flow_through_the_page(resident, other_resident):
    seller, partner = _signed_in(resident), _signed_in(other_resident)
    third = make_member("hemi", 70)
    page = partner.get(reverse("sharing"))
    assert page.status_code == 200
    assert b"no partner code that works" in page.content
    partner.post(reverse("sharing-code-issue"))
    code = PartnerCode.objects.get(member=other_resident)
    page = partner.get(reverse("sharing")).content.decode()
    assert code.code in page
    assert "give this code to someone who wants to share their solar with you" in page.lower()
    local = timezone.localtime(code.expires_at)
    assert f"{local:%H:%M} NZ time" in page

    refused = seller.post(reverse("sharing-partner-add"), {"code": code.code, "price_c": "150"})
    assert refused.status_code == 200
    assert "from 0 to 100 c/kWh" in refused.content.decode()
    assert not Partnership.objects.exists()
    own = sharing.partner_code_issue(member=resident)
    refused = seller.post(reverse("sharing-partner-add"), {"code": own.code, "price_c": "1"})
    assert "You cannot be your own partner" in refused.content.decode()

    added = seller.post(reverse("sharing-partner-add"), {"code": code.code, "price_c": "0"})
    assert added.status_code == 302
    third_code = sharing.partner_code_issue(member=third)
    seller.post(reverse("sharing-partner-add"), {"code": third_code.code, "price_c": "7.5"})
    first, second = Partnership.objects.order_by("rank")
    assert (first.partner, second.partner) == (other_resident, third)
    page = seller.get(reverse("sharing")).content.decode()
    assert page.index("Other") < page.index("Hemi")

    seller.post(reverse("sharing-partner-move", args=[second.pk]), {"direction": "up"})
    assert list(Partnership.objects.order_by("rank").values_list("partner", flat=True)) == [
        third.pk,
        other_resident.pk,
    ]
    # Only the seller orders their partners; a partner's move is a 404.
    assert (
        partner.post(reverse("sharing-partner-move", args=[first.pk]), {"direction": "up"})
    ).status_code == 404

    mine = partner.get(reverse("sharing")).content.decode()
    assert "Resident" in mine
    assert "Decline" in mine
    partner.post(reverse("sharing-partner-end", args=[first.pk]))
    first.refresh_from_db()
    assert first.status == Partnership.Status.DECLINED
    seller.post(reverse("sharing-partner-end", args=[second.pk]))
    second.refresh_from_db()
    assert second.status == Partnership.Status.ENDED
    page = seller.get(reverse("sharing")).content.decode()
    assert "You share with no partners" in page
    assert "declined by the partner" in page


def test_a_stranger_cannot_end_someone_elses_arrangement(resident, other_resident):
    stranger = make_member("tama", 71)
    code = sharing.partner_code_issue(member=other_resident)
    partnership = sharing.partnership_add(seller=resident, code=code.code, price_c="1")
    response = _signed_in(stranger).post(reverse("sharing-partner-end", args=[partnership.pk]))
    assert response.status_code == 404
    partnership.refresh_from_db()
    assert partnership.status == Partnership.Status.ACTIVE


def test_gift_pledge_through_the_page(resident):
    client = _signed_in(resident)
    refused = client.post(reverse("sharing-gift-set"), {"share_pct": "101", "monthly_cap_kwh": ""})
    assert refused.status_code == 200
    assert "over 100%" in refused.content.decode()
    for share, message in (("10.55", "to at most 1 decimal place."), ("lots", "as a number")):
        refused = client.post(reverse("sharing-gift-set"), {"share_pct": share})
        assert message in refused.content.decode()
    refused = client.post(
        reverse("sharing-partner-add"), {"code": "ABCD2345", "price_c": "1.23456"}
    )
    assert "to at most 4 decimal places." in refused.content.decode()
    assert not GiftPledge.objects.exists()
    client.post(reverse("sharing-gift-set"), {"share_pct": "12.5", "monthly_cap_kwh": "40"})
    pledge = GiftPledge.objects.get(member=resident)
    assert (pledge.share_pct, pledge.monthly_cap_kwh) == (Decimal("12.5"), Decimal("40.000"))
    page = client.get(reverse("sharing")).content.decode()
    assert "12.5%" in page
    assert "40.000 kWh" in page
    assert "you gave <strong>0.000 kWh" in page
    client.post(reverse("sharing-gift-stop"))
    pledge.refresh_from_db()
    assert not pledge.active
    assert "You give nothing to the pool" in client.get(reverse("sharing")).content.decode()


def test_the_page_shows_nothing_of_the_pool_to_a_non_recipient(resident):
    page = _signed_in(resident).get(reverse("sharing")).content.decode()
    assert "you received" not in page


# --- the hardship pool in the admin: staff only ----------------------------------------------


ADD_RECIPIENT = "/admin/trading/hardshiprecipient/add/"


def test_a_resident_posting_to_the_admin_is_refused(resident, other_resident):
    body = {"member": resident.pk, "monthly_allowance_kwh": "500", "active": "on"}
    response = _signed_in(resident).post(ADD_RECIPIENT, body)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert not HardshipRecipient.objects.exists()


def test_staff_set_a_recipient_in_the_admin(coop_admin, resident, other_resident):
    admin = _signed_in(coop_admin)
    saved = admin.post(
        ADD_RECIPIENT,
        {"member": resident.pk, "monthly_allowance_kwh": "60", "active": "on", "note": "WINZ"},
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    recipient = HardshipRecipient.objects.get()
    assert (recipient.member, recipient.monthly_allowance_kwh) == (resident, Decimal("60.000"))
    Member.objects.filter(pk=other_resident.pk).update(status=Member.Status.SUSPENDED)
    for body, message in (
        ({"member": other_resident.pk, "monthly_allowance_kwh": "10"}, "active member"),
        ({"member": coop_admin.pk, "monthly_allowance_kwh": "0"}, "greater than or equal"),
    ):
        refused = admin.post(ADD_RECIPIENT, body)
        assert refused.status_code == 200
        assert message in refused.content.decode()
    assert HardshipRecipient.objects.count() == 1
    listing = admin.get("/admin/trading/hardshiprecipient/").content.decode()
    assert "Resident" in listing
    assert "received this month" in listing.lower()
    change = admin.get(f"/admin/trading/hardshiprecipient/{recipient.pk}/change/")
    assert change.status_code == 200
    # The staff note is the admin's alone.
    assert "WINZ" not in _signed_in(resident).get(reverse("sharing")).content.decode()
    for listed in ("giftpledge", "partnership", "partnercode", "trade"):
        assert admin.get(f"/admin/trading/{listed}/").status_code == 200


# --- a gift and a partner trade, cleared and settled; then privacy ---------------------------


@pytest.fixture
def traded(db, request):
    """A period of 8 July 2026 where Kereru (PV) sells 4 kWh: 1 kWh to their partner Kahikatea
    at 5 c, 1 kWh gifted through the pool to Piwakawaka, the rest on the open market to Matai;
    cleared and settled, with the clock held at noon that day. Parametrised indirectly with
    True: the co-op covers the gift's network charge."""
    from coop.models import Battery, CoopSettings, PVSystem

    if getattr(request, "param", False):
        settings_row = CoopSettings.load()
        settings_row.cover_gift_network = True
        settings_row.save()
    from metering.models import Meter
    from metering.services.readings import readings_upsert
    from metering.values import IntervalEnergy
    from trading.services import orders, periods

    names = ("kereru", "piwakawaka", "kahikatea", "matai")
    donor, recipient, partner, buyer = (make_member(n, 80 + i) for i, n in enumerate(names))
    give_flat_tariff(donor, recipient, partner, buyer)
    for member in (donor, recipient, partner, buyer):
        Meter.objects.create(icp=member.icps.get())
    PVSystem.objects.create(icp=donor.icps.get(), capacity_kwp=Decimal(8), inverter_kw=Decimal(5))
    Battery.objects.create(icp=donor.icps.get(), capacity_kwh=Decimal(10), power_kw=Decimal(5))
    with time_machine.travel(NOW, tick=False):
        periods.periods_ensure(now=NOW, hours=2)
        period = TradingPeriod.objects.filter(start__gt=NOW).order_by("start").first()
        code = sharing.partner_code_issue(member=partner)
        sharing.partnership_add(seller=donor, code=code.code, price_c="5")
        sharing.gift_pledge_set(member=donor, share_pct="50", monthly_cap_kwh=None)
        sharing.hardship_recipient_set(member=recipient, monthly_allowance_kwh="10")
        for member, side, kwh, limit in (
            (donor, "sell", "4", "10"),
            (recipient, "buy", "1", "25"),
            (partner, "buy", "1", "25"),
            (buyer, "buy", "1", "25"),
        ):
            orders.order_place(
                member=member,
                icp=member.icps.get(),
                period=period,
                side=side,
                energy_kwh=kwh,
                limit_price_c=limit,
                now=NOW,
            )
        periods.periods_advance(now=period.gate_closes_at + dt.timedelta(seconds=1))
        readings_upsert(
            source="test",
            rows=[
                IntervalEnergy(donor.icps.get().pk, period.start, Decimal(0), Decimal(4)),
                *(
                    IntervalEnergy(m.icps.get().pk, period.start, Decimal(1), Decimal(0))
                    for m in (recipient, partner, buyer)
                ),
            ],
        )
        periods.periods_advance(now=period.end + dt.timedelta(minutes=1))
        period.refresh_from_db()
        yield {
            "period": period,
            "donor": donor,
            "recipient": recipient,
            "partner": partner,
            "buyer": buyer,
        }


def test_the_period_clears_partner_gift_and_market_and_sums_to_zero(traded):
    period = traded["period"]
    assert period.state == TradingPeriod.State.SETTLED
    kinds = {t.kind: t for t in Trade.objects.filter(period=period)}
    assert set(kinds) == {"partner", "gift", "market"}
    gift = kinds["gift"]
    assert (gift.seller, gift.buyer) == (traded["donor"], traded["recipient"])
    assert (gift.energy_kwh, gift.price_c, gift.fee_c) == (Decimal("1.000"), 0, 0)
    assert (kinds["partner"].buyer, kinds["partner"].price_c) == (traded["partner"], 5)
    assert period.clearing_price_c is not None
    assert sum(line.amount_nzd for line in SettlementLine.objects.filter(period=period)) == 0
    # The statement's "sold to neighbours" counts the partner's and the pool's kWh too.
    sold = MemberPeriodSummary.objects.get(period=period, member=traded["donor"]).sold_p2p_kwh
    assert sold == Decimal("3.000")


@pytest.mark.parametrize("traded", [True], indirect=True)
def test_the_coop_can_pay_the_network_charge_on_a_gift_from_its_fees(traded):
    period = traded["period"]
    gift = Trade.objects.get(period=period, kind="gift")
    assert gift.network_covered_by_coop
    assert gift.network_value_nzd > 0
    lines = SettlementLine.objects.filter(period=period)
    assert sum(line.amount_nzd for line in lines) == 0
    cover = lines.filter(kind="gift_network_cover")
    recipient_cover = cover.get(account="member", member=traded["recipient"])
    assert recipient_cover.amount_nzd == gift.network_value_nzd
    assert cover.get(account="coop").amount_nzd == -gift.network_value_nzd
    # The recipient pays nothing for the gift (their only purchase): no energy price, and the
    # network charge on their ICP out, the co-op's cover in.
    mine = lines.filter(account="member", member=traded["recipient"]).exclude(
        kind__in=["retail_import", "retail_export"]
    )
    kinds = {line.kind: line.amount_nzd for line in mine}
    assert kinds == {
        "p2p_energy": 0,
        "network": -gift.network_value_nzd,
        "coop_fee": 0,  # the pool's gifts pay no fee
        "gift_network_cover": gift.network_value_nzd,
    }
    assert sum(line.amount_nzd for line in mine) == 0
    # Market trades are not covered.
    assert not Trade.objects.filter(period=period, kind="market", network_covered_by_coop=True)


def _market_value(period: TradingPeriod) -> Decimal:
    assert period.clearing_price_c is not None
    return Decimal(1) * period.clearing_price_c / 100  # 1 kWh at the clearing price


def _shown(nzd: Decimal) -> str:
    """As the page shows NZD (floatformat:2 rounds half up)."""
    return str(nzd.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def test_donor_and_recipient_see_what_they_gave_and_received(traded):
    period = traded["period"]
    exact = _market_value(period)
    value = _shown(exact)
    donor, recipient = _signed_in(traded["donor"]), _signed_in(traded["recipient"])
    page = donor.get(reverse("sharing")).content.decode()
    assert f"you gave <strong>1.000 kWh</strong>, worth <strong>NZD {value}</strong>" in page
    assert "you shared 1.000 kWh with your partners" in page
    page = recipient.get(reverse("sharing")).content.decode()
    assert (
        f"you received <strong>1.000 kWh</strong> from the co-op's hardship pool, worth "
        f"<strong>NZD {value}</strong> at the market price; your allowance is "
        "<strong>10.000 kWh</strong> a month"
    ) in page
    assert "not valued" not in page

    statement = donor.get(reverse("statement-detail", args=[MONTH])).content.decode()
    assert "Given to the hardship pool" in statement
    assert "gift to the hardship pool" in statement
    assert "shared with a partner" in statement
    statement = recipient.get(reverse("statement-detail", args=[MONTH])).content.decode()
    assert "from the hardship pool" in statement
    rows = donor.get(reverse("statement-csv", args=[MONTH])).content.decode().splitlines()
    header, row = rows[0].split(","), rows[1].split(",")
    assert dict(zip(header, row, strict=True))["gift_given_kwh"] == "1.000"
    assert dict(zip(header, row, strict=True))["partner_sold_kwh"] == "1.000"
    api = donor.get(f"/api/statements/{MONTH}/").json()
    assert Decimal(str(api["gift_given_kwh"])) == 1
    assert Decimal(str(api["gift_given_market_value_nzd"])) == exact
    assert Decimal(str(api["partner_sold_energy_nzd"])) == Decimal("0.05")
    trades = recipient.get(reverse("my-trades")).content.decode()
    assert "from the hardship pool" in trades
    assert period.clearing_price_c > 0


def test_a_period_with_no_market_price_is_left_out_of_the_value(traded):
    """A gift in a period that cleared nothing on the open market has no price to value it."""
    period = traded["period"]
    TradingPeriod.objects.filter(pk=period.pk).update(clearing_price_c=None)
    page = _signed_in(traded["donor"]).get(reverse("sharing")).content.decode()
    assert "worth <strong>NZD 0.00</strong> at the market price (periods with no market " in page
    detail = _signed_in(traded["recipient"]).get(reverse("statement-detail", args=[MONTH]))
    assert "periods with no market price not valued" in detail.content.decode()


def _walk(resolver, prefix=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue
            yield from _walk(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def _urls(member, trade: Trade) -> list[str]:
    """Every site URL the member could GET, filled with their own objects and the gift trade."""
    values = {
        "month": MONTH,
        "identifier": member.icps.get().identifier,
        "trade_id": str(trade.pk),
        "pk": str(trade.pk),
        "feeder_id": str(member.icps.get().feeder_id),
        "name": "report.html",
    }
    urls = []
    for pattern in _walk(get_resolver()):
        if "format" in pattern or pattern.startswith("accounts/"):
            continue
        url = pattern.replace("^", "").replace("$", "")
        url = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values.get(m.group(1), "1"), url)
        url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "1"), url)
        urls.append("/" + url)
    return urls


def _secrets(member) -> list[str]:
    return [member.display_name, member.user.username, member.email, member.icps.get().identifier]


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def test_no_page_api_or_socket_tells_either_side_of_a_gift_who_the_other_is(traded):
    from trading.live.power import member_power
    from trading.live.snapshot import display_snapshot

    gift = Trade.objects.get(kind="gift")
    pairs = ((traded["donor"], traded["recipient"]), (traded["recipient"], traded["donor"]))
    for viewer, other in pairs:
        client = _signed_in(viewer)
        seen = []
        for url in _urls(viewer, gift):
            response = client.get(url)
            assert response.status_code < 500, url
            if response.status_code == 200:
                seen.append(url)
                text = _body(response).lower()
                for secret in _secrets(other):
                    assert secret.lower() not in text, f"{url} shows {secret} to {viewer}"
        for must in ("/market/sharing/", "/market/trades/", f"/statements/{MONTH}/csv/"):
            assert must in seen
        assert f"/statements/{MONTH}/" in seen
        assert "/api/trades/" in seen
        assert f"/api/statements/{MONTH}/" in seen
        # The check sees names where they belong: the donor's partner is on the donor's page.
        if viewer == traded["donor"]:
            assert traded["partner"].display_name in _body(client.get("/market/sharing/"))
        payloads = json.dumps([display_snapshot(), member_power(viewer.pk)]).lower()
        for secret in _secrets(other):
            assert secret.lower() not in payloads
