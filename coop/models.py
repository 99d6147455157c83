"""The co-op's own records: members, their ICPs, the DER behind each ICP, tariffs, settings.

All of coop's models in one module, as Django expects an app's models to be found; about 400
lines because each model keeps its own validation (ICP checksums, tariff coverage) beside it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypedDict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from coop import nz
from coop.cables import CABLE_TYPES, SERVICE_CABLE
from coop.tariffs import TariffError, TariffSpec, Window

POSITIVE = [MinValueValidator(Decimal("0.001"))]
NON_NEGATIVE = [MinValueValidator(Decimal("0"))]
NODE_CODE = re.compile(r"^[A-Z]{3}[0-9]{4}$")


def validate_icp(value: str) -> None:
    try:
        nz.validate_icp(value)
    except nz.InvalidICP as exc:
        raise ValidationError(str(exc), code="invalid_icp") from exc


def validate_node(value: str) -> None:
    if not NODE_CODE.match(value or ""):
        raise ValidationError(
            f"{value!r} is not a grid exit point: expected a node code such as PEN0331 "
            "(3-letter site, 2-digit voltage, bus digit)"
        )


class Member(models.Model):
    class Status(models.TextChoices):
        APPLICANT = "applicant", "Applicant"
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        LEFT = "left", "Left"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="member"
    )
    display_name = models.CharField(max_length=120)
    phone = models.CharField(max_length=40, blank=True)
    postal_address = models.TextField(blank=True)
    joined_on = models.DateField(default=nz.today)
    left_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.APPLICANT)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def email(self) -> str:
        return self.user.email

    def clean(self) -> None:
        if self.left_on and self.left_on < self.joined_on:
            raise ValidationError({"left_on": "A member cannot leave before they joined."})
        if self.status == self.Status.LEFT and not self.left_on:
            raise ValidationError({"left_on": "Give the date a member left."})

    @property
    def can_trade(self) -> bool:
        return self.status == self.Status.ACTIVE


class _Coordinate(TypedDict):
    max_digits: int
    decimal_places: int
    validators: list[Callable[[Any], None]]


LATITUDE: _Coordinate = {
    "max_digits": 9,
    "decimal_places": 6,
    "validators": [MinValueValidator(Decimal(-48)), MaxValueValidator(Decimal(-34))],
}
LONGITUDE: _Coordinate = {
    "max_digits": 9,
    "decimal_places": 6,
    "validators": [MinValueValidator(Decimal(166)), MaxValueValidator(Decimal(179))],
}
CABLE_CHOICES = list(CABLE_TYPES.items())


class Transformer(models.Model):
    """A distribution transformer (11 kV to 415 V) feeding the co-op's LV feeders."""

    name = models.CharField(max_length=60, unique=True)
    rating_kva = models.DecimalField(
        "rating (kVA)",
        max_digits=7,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.1"), "A transformer's rating must be positive.")],
    )
    grid_exit_point = models.CharField(
        max_length=7,
        validators=[validate_node],
        help_text="The node on the 11 kV side (e.g. PEN0331).",
    )
    hv_kv = models.DecimalField(
        "HV side (kV)",
        max_digits=5,
        decimal_places=3,
        default=Decimal("11.000"),
        validators=POSITIVE,
    )
    lv_kv = models.DecimalField(
        "LV side (kV)",
        max_digits=5,
        decimal_places=3,
        default=Decimal("0.415"),
        validators=POSITIVE,
    )
    impedance_percent = models.DecimalField(
        "short-circuit impedance (%)",
        max_digits=4,
        decimal_places=2,
        default=Decimal("4.00"),
        validators=POSITIVE,
        help_text="From the nameplate; about 4% for a 200-300 kVA pole-mount unit.",
    )
    resistance_percent = models.DecimalField(
        "resistive part (%)",
        max_digits=4,
        decimal_places=2,
        default=Decimal("1.20"),
        validators=NON_NEGATIVE,
        help_text="The copper losses at full load as a % of the rating.",
    )
    latitude = models.DecimalField(**LATITUDE)
    longitude = models.DecimalField(**LONGITUDE)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.rating_kva} kVA)"

    def clean(self) -> None:
        if (
            self.impedance_percent is not None
            and self.resistance_percent is not None
            and self.resistance_percent >= self.impedance_percent
        ):
            raise ValidationError(
                {"resistance_percent": "The resistive part must be below the impedance."}
            )
        if self.hv_kv is not None and self.lv_kv is not None and self.lv_kv >= self.hv_kv:
            raise ValidationError({"lv_kv": "The LV side must be below the HV side."})


class Feeder(models.Model):
    """An LV feeder: the cables from one transformer's LV board to the ICPs along it.

    The co-op's members are some of a transformer's customers; the others load it too, so the
    feeder says how many there are and how much rooftop solar they have.
    """

    name = models.CharField(max_length=60, unique=True)
    # Required in the admin; null only for feeders carried over from the old text field.
    transformer = models.ForeignKey(
        Transformer, on_delete=models.PROTECT, related_name="feeders", null=True
    )
    other_customers = models.PositiveIntegerField(
        "other customers",
        default=0,
        help_text="ICPs on this feeder's transformer that are not the co-op's (on its other "
        "circuits): their load is taken as the typical NZ household's, at the LV board.",
    )
    other_pv_kwp = models.DecimalField(
        "their rooftop solar (kWp)",
        max_digits=7,
        decimal_places=1,
        default=Decimal("0.0"),
        validators=NON_NEGATIVE,
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.transformer_id is None:
            raise ValidationError({"transformer": "A feeder is fed by a transformer: choose one."})


class LineSegment(models.Model):
    """A section of a feeder's LV main, from the LV board or the segment upstream of it to a
    pole or pillar; ICPs connect at a segment's far end through their service cable."""

    feeder = models.ForeignKey(Feeder, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=60, help_text="e.g. the pole or pillar at its far end.")
    upstream = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="downstream",
        help_text="Empty: this segment starts at the transformer's LV board.",
    )
    length_m = models.DecimalField(
        "length (m)",
        max_digits=7,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.1"), "A cable must have a length.")],
    )
    cable_type = models.CharField(max_length=40, choices=CABLE_CHOICES)

    class Meta:
        ordering = ["feeder", "name"]
        constraints = [
            models.UniqueConstraint(fields=["feeder", "name"], name="segment_name_per_feeder")
        ]

    def __str__(self) -> str:
        return f"{self.feeder}: {self.name}"

    def clean(self) -> None:
        if self.upstream_id is None:
            return
        upstream = self.upstream
        assert upstream is not None
        if upstream.feeder_id != self.feeder_id:
            raise ValidationError(
                {"upstream": f"{upstream} is on another feeder; a segment continues its own."}
            )
        seen = {self.pk} if self.pk else set()
        node: LineSegment | None = upstream
        while node is not None:
            if node.pk in seen:
                raise ValidationError(
                    {
                        "upstream": f"Segment {self.name} would close a loop through "
                        f"{node.name}: an LV feeder is radial."
                    }
                )
            seen.add(node.pk)
            node = node.upstream


class ICP(models.Model):
    """An Installation Control Point: one metered connection to the distribution network."""

    identifier = models.CharField(
        "ICP",
        max_length=15,
        unique=True,
        validators=[validate_icp],
        help_text="15 characters: 10 digits, the distributor's 2 letters, a 3-character checksum.",
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="icps",
        null=True,
        blank=True,
        help_text="Who holds this ICP now; the history of holders is kept below.",
    )
    address = models.CharField(max_length=200)
    grid_exit_point = models.CharField(
        max_length=7,
        validators=[validate_node],
        help_text="The node (e.g. PEN0331) whose wholesale price applies to this ICP.",
    )
    feeder = models.ForeignKey(
        Feeder,
        on_delete=models.PROTECT,
        related_name="icps",
        null=True,
        blank=True,
        verbose_name="LV feeder",
        help_text="The feeder it is connected to; ICPs on one feeder trade at a lower network "
        "charge, and its power flow prices the time-value network price.",
    )
    connection_segment = models.ForeignKey(
        LineSegment,
        on_delete=models.PROTECT,
        related_name="icps",
        null=True,
        blank=True,
        help_text="The segment whose far end its service cable starts from (empty: the LV board).",
    )
    service_length_m = models.DecimalField(
        "service cable (m)",
        max_digits=6,
        decimal_places=1,
        default=Decimal("15.0"),
        validators=[MinValueValidator(Decimal("0.1"), "A cable must have a length.")],
    )
    service_cable_type = models.CharField(
        max_length=40, choices=CABLE_CHOICES, default=SERVICE_CABLE
    )
    latitude = models.DecimalField(
        **LATITUDE,
        help_text="Decimal degrees (e.g. -36.848461). Needed for the PV estimates (pvlib works "
        "out the sun's position from it) and to place the ICP on the network map.",
    )
    longitude = models.DecimalField(
        **LONGITUDE,
        help_text="Decimal degrees (e.g. 174.763336). Needed for the PV estimates (pvlib) and "
        "to place the ICP on the network map.",
    )
    max_import_kw = models.DecimalField(
        "connection capacity (kW)",
        max_digits=6,
        decimal_places=2,
        default=Decimal("15.00"),
        validators=POSITIVE,
        help_text="Fuse-limited capacity; bounds what a buy order can plausibly import.",
    )

    class Meta:
        ordering = ["identifier"]
        verbose_name = "ICP"
        verbose_name_plural = "ICPs"

    def __str__(self) -> str:
        return self.identifier

    @property
    def distributor_code(self) -> str:
        return self.identifier[10:12]

    def clean(self) -> None:
        if self.identifier:
            self.identifier = self.identifier.strip().upper()
        if self.grid_exit_point:
            self.grid_exit_point = self.grid_exit_point.strip().upper()
        feeder, segment = self.feeder, self.connection_segment
        if feeder is not None and feeder.transformer_id is None:
            raise ValidationError(
                {"feeder": f"Feeder {feeder} has no transformer: give it one first."}
            )
        if segment is not None and segment.feeder_id != self.feeder_id:
            raise ValidationError(
                {"connection_segment": f"{self.connection_segment} is not on this ICP's feeder."}
            )


class ICPHolding(models.Model):
    """Who held an ICP and when: an ICP belongs to one member at a time."""

    icp = models.ForeignKey(ICP, on_delete=models.CASCADE, related_name="holdings")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="holdings")
    started_on = models.DateField()
    ended_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["icp", "-started_on"]
        verbose_name = "ICP holding"
        verbose_name_plural = "ICP holdings"
        constraints = [
            models.UniqueConstraint(
                fields=["icp"], condition=Q(ended_on__isnull=True), name="one_current_holder"
            )
        ]

    def __str__(self) -> str:
        return f"{self.icp} held by {self.member} from {self.started_on}"


class PVSystem(models.Model):
    icp = models.ForeignKey(ICP, on_delete=models.CASCADE, related_name="pv_systems")
    capacity_kwp = models.DecimalField(
        "capacity (kWp)", max_digits=6, decimal_places=2, validators=POSITIVE
    )
    tilt_degrees = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        default=Decimal("20"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(90))],
    )
    azimuth_degrees = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal("359.9"))],
        help_text="Compass bearing the panels face; 0 is north, the best in New Zealand.",
    )
    inverter_kw = models.DecimalField(max_digits=6, decimal_places=2, validators=POSITIVE)

    class Meta:
        verbose_name = "PV system"

    def __str__(self) -> str:
        return f"{self.capacity_kwp} kWp PV"


class Battery(models.Model):
    icp = models.ForeignKey(ICP, on_delete=models.CASCADE, related_name="batteries")
    capacity_kwh = models.DecimalField(
        "capacity (kWh)", max_digits=6, decimal_places=2, validators=POSITIVE
    )
    power_kw = models.DecimalField(
        "power (kW)", max_digits=6, decimal_places=2, validators=POSITIVE
    )
    round_trip_efficiency = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.900"),
        validators=[MinValueValidator(Decimal("0.5")), MaxValueValidator(Decimal(1))],
    )
    min_state_of_charge = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.100"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal("0.9"))],
        help_text="Fraction kept in reserve (0.1 = 10%).",
    )

    class Meta:
        verbose_name_plural = "batteries"

    def __str__(self) -> str:
        return f"{self.capacity_kwh} kWh battery"


class ElectricVehicle(models.Model):
    icp = models.ForeignKey(ICP, on_delete=models.CASCADE, related_name="evs")
    battery_kwh = models.DecimalField(max_digits=6, decimal_places=2, validators=POSITIVE)
    charger_kw = models.DecimalField(max_digits=5, decimal_places=2, validators=POSITIVE)
    usual_plug_in = models.TimeField(default=dt.time(18, 0))
    usual_departure = models.TimeField(default=dt.time(7, 30))

    class Meta:
        verbose_name = "EV"
        verbose_name_plural = "EVs"

    def __str__(self) -> str:
        return f"EV {self.battery_kwh} kWh"

    def clean(self) -> None:
        if self.usual_plug_in == self.usual_departure:
            raise ValidationError("Plug-in and departure times must differ.")


class Tariff(models.Model):
    """An ICP's retail plan over a span of dates; spans of one ICP never overlap."""

    icp = models.ForeignKey(ICP, on_delete=models.CASCADE, related_name="tariffs")
    retailer = models.CharField(max_length=80)
    plan_name = models.CharField(max_length=80)
    effective_from = models.DateField()
    effective_to = models.DateField(
        null=True, blank=True, help_text="Last day the tariff applies; empty for open-ended."
    )
    daily_fixed_c = models.DecimalField(
        "daily fixed charge (c/day)", max_digits=7, decimal_places=3, validators=NON_NEGATIVE
    )
    buyback_c = models.DecimalField(
        "export buy-back (c/kWh)", max_digits=7, decimal_places=3, validators=NON_NEGATIVE
    )
    prices_include_gst = models.BooleanField(
        default=True, help_text="Import, lines and daily charges as quoted include 15% GST."
    )
    buyback_includes_gst = models.BooleanField(
        default=False, help_text="Buy-back rates are usually quoted excluding GST."
    )

    class Meta:
        ordering = ["icp", "-effective_from"]

    def __str__(self) -> str:
        return f"{self.retailer} {self.plan_name} from {self.effective_from}"

    def clean(self) -> None:
        if self.effective_to and self.effective_to < self.effective_from:
            raise ValidationError({"effective_to": "A tariff cannot end before it starts."})
        if not self.icp_id:
            return
        far_future = dt.date.max
        overlapping = (
            Tariff.objects.filter(icp_id=self.icp_id)
            .exclude(pk=self.pk)
            .filter(
                Q(effective_to__isnull=True) | Q(effective_to__gte=self.effective_from),
                effective_from__lte=self.effective_to or far_future,
            )
        )
        if clash := overlapping.first():
            raise ValidationError(
                f"This tariff's dates overlap {clash} on ICP {self.icp}; end that one first."
            )

    def spec(self, rates: list[TariffRate] | None = None) -> TariffSpec:
        """The pure pricing form of this tariff (coop.tariffs), from its saved rates or `rates`."""
        rates = list(self.rates.all()) if rates is None else rates
        return TariffSpec(
            daily_fixed_c=self.daily_fixed_c,
            buyback_c=self.buyback_c,
            import_windows=tuple(r.window() for r in rates if r.kind == TariffRate.Kind.IMPORT),
            lines_windows=tuple(r.window() for r in rates if r.kind == TariffRate.Kind.LINES),
            prices_include_gst=self.prices_include_gst,
            buyback_includes_gst=self.buyback_includes_gst,
        )


class TariffRate(models.Model):
    class Kind(models.TextChoices):
        IMPORT = "import", "Import (retail energy, all-in)"
        LINES = "lines", "Lines (distribution, part of import)"

    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="rates")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.IMPORT)
    label = models.CharField(max_length=40, help_text="e.g. Peak, Off-peak, Night")
    days = models.CharField(max_length=40, default="All", help_text="e.g. Mon-Fri, Sat,Sun, All")
    start_time = models.TimeField(default=dt.time(0, 0))
    end_time = models.TimeField(default=dt.time(0, 0), help_text="00:00 means midnight.")
    months = models.CharField(max_length=40, default="All", help_text="e.g. Apr-Sep, All")
    rate_c = models.DecimalField(
        "rate (c/kWh)", max_digits=7, decimal_places=3, validators=NON_NEGATIVE
    )

    class Meta:
        ordering = ["tariff", "kind", "start_time"]

    def __str__(self) -> str:
        return f"{self.label} {self.rate_c} c/kWh"

    def window(self) -> Window:
        return Window(
            self.label, self.days, self.start_time, self.end_time, self.months, self.rate_c
        )

    def clean(self) -> None:
        try:
            list(self.window().slots())
        except TariffError as exc:
            raise ValidationError(str(exc)) from exc


class CoopSettings(models.Model):
    """The co-op's market rules: a single row, edited in the admin."""

    class Mechanism(models.TextChoices):
        UNIFORM = "uniform", "Uniform-price double auction (pay as clear)"
        PAY_AS_BID = "pay_as_bid", "Pay as bid (discriminatory)"
        MID_MARKET = "mid_market", "Mid-market rate (bill sharing)"
        TIME_VALUE = "time_value", "Uniform auction with distributor time-value network price"

    name = models.CharField(max_length=120, default="Hapori Energy Co-op")
    mechanism = models.CharField(
        max_length=12, choices=Mechanism.choices, default=Mechanism.UNIFORM
    )
    k_factor = models.DecimalField(
        "k (pricing between bid and offer)",
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.500"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
    )
    gate_closure_minutes = models.PositiveIntegerField(
        default=5, help_text="Orders close this many minutes before the trading period starts."
    )
    price_floor_c = models.DecimalField(max_digits=7, decimal_places=3, default=Decimal("0.000"))
    price_cap_c = models.DecimalField(max_digits=7, decimal_places=3, default=Decimal("100.000"))
    coop_fee_c = models.DecimalField(
        "co-op fee (c/kWh)",
        max_digits=6,
        decimal_places=3,
        default=Decimal("0.500"),
        validators=NON_NEGATIVE,
    )
    network_charge_c = models.DecimalField(
        "network charge between feeders (c/kWh)",
        max_digits=6,
        decimal_places=3,
        default=Decimal("4.000"),
        validators=NON_NEGATIVE,
    )
    same_feeder_network_charge_c = models.DecimalField(
        "network charge within one LV feeder (c/kWh)",
        max_digits=6,
        decimal_places=3,
        default=Decimal("2.000"),
        validators=NON_NEGATIVE,
    )
    cover_gift_network = models.BooleanField(
        "the co-op pays the network charge on hardship-pool gifts",
        default=False,
        help_text="From its fees: the household receiving a gift then pays nothing for it. "
        "Applies to gifts cleared from the next trading period.",
    )

    class Meta:
        verbose_name = "co-op settings"
        verbose_name_plural = "co-op settings"

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # One row only: whatever is saved becomes row 1.
        self.pk = 1
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.price_floor_c >= self.price_cap_c:
            raise ValidationError("The price floor must be below the price cap.")
        if self.same_feeder_network_charge_c > self.network_charge_c:
            raise ValidationError(
                "The network charge within a feeder cannot exceed the charge between feeders."
            )

    @classmethod
    def load(cls) -> CoopSettings:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj
