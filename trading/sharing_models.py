"""Sharing with whānau and friends, and gifts to households in hardship: who shares with whom
at what price, who gives what share of their surplus, and who receives from the pool.

Imported by trading.models, where Django looks for the app's models.

A partner is found only by a code they give the seller (never by browsing members): codes are
random, expire, and name no one. The hardship pool is anonymous both ways: a donor's gift and a
recipient's allowance are recorded here, but no page tells either who the other is.
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from coop.models import Member

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
CODE_LENGTH = 8
CODE_LIFETIME = dt.timedelta(days=14)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


class PartnerCode(models.Model):
    """A code a member gives someone they want to buy from; the seller enters it."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="partner_codes")
    code = models.CharField(max_length=CODE_LENGTH, unique=True, default=new_code)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"partner code of {self.member}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.expires_at is None:
            self.expires_at = (self.created_at or timezone.now()) + CODE_LIFETIME
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def expired(self) -> bool:
        return timezone.now() >= self.expires_at


class Partnership(models.Model):
    """A seller's standing offer to one partner: their surplus goes to the partner's needs at
    this price before the open market clears, partners in the seller's order (rank)."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        DECLINED = "declined", "declined by the partner"
        ENDED = "ended"

    seller = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="partners_given")
    partner = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="partners_taken")
    price_c = models.DecimalField(
        "price (c/kWh, excl. GST)",
        max_digits=8,
        decimal_places=4,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="Zero allowed: sharing for free.",
    )
    rank = models.PositiveSmallIntegerField(default=1, help_text="1 is served first.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["seller", "rank", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(seller=models.F("partner")), name="partnership_not_with_oneself"
            ),
            models.UniqueConstraint(
                fields=["seller", "partner"],
                condition=Q(status="active"),
                name="one_active_partnership_per_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.seller} shares with a partner at {self.price_c} c/kWh"

    def clean(self) -> None:
        if self.seller_id is not None and self.seller_id == self.partner_id:
            raise ValidationError("You cannot be your own partner.")


class GiftPledge(models.Model):
    """A member's gift to the hardship pool: a share of their surplus each period, up to a
    monthly cap if they set one."""

    member = models.OneToOneField(Member, on_delete=models.CASCADE, related_name="gift_pledge")
    share_pct = models.DecimalField(
        "share of my surplus (%)",
        max_digits=5,
        decimal_places=1,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
    )
    monthly_cap_kwh = models.DecimalField(
        "at most (kWh a month)",
        max_digits=8,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.001"))],
        help_text="Empty: no cap.",
    )
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.member} gives {self.share_pct}% of surplus"


class HardshipRecipient(models.Model):
    """A household the co-op (staff only) has agreed receives from the hardship pool, up to a
    monthly allowance, at no energy price."""

    member = models.OneToOneField(
        Member, on_delete=models.CASCADE, related_name="hardship_recipient"
    )
    monthly_allowance_kwh = models.DecimalField(
        "allowance (kWh a month)",
        max_digits=8,
        decimal_places=3,
        validators=[MinValueValidator(Decimal("0.001"))],
    )
    active = models.BooleanField(default=True)
    note = models.TextField(blank=True, help_text="Staff only; never shown to members.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.member} receives from the hardship pool"

    def clean(self) -> None:
        if self.member_id is not None and self.member.status != Member.Status.ACTIVE:
            raise ValidationError({"member": "Only an active member can receive from the pool."})
