"""The LV network model refuses what cannot be a network, saying which object and why, and
saves nothing."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from coop import nz, services
from coop.models import ICP, Feeder, LineSegment, Transformer

pytestmark = pytest.mark.django_db


def transformer(**fields) -> Transformer:
    values = {
        "name": "T1",
        "rating_kva": Decimal(200),
        "grid_exit_point": "PEN0331",
        "latitude": Decimal("-36.9"),
        "longitude": Decimal("174.81"),
        **fields,
    }
    return Transformer(**values)


def messages(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return " ".join(f"{k}: {' '.join(v)}" for k, v in exc.value.message_dict.items())


@pytest.mark.parametrize("rating", [Decimal(0), Decimal(-50)])
def test_a_transformer_needs_a_positive_rating(rating):
    with pytest.raises(ValidationError) as exc:
        transformer(rating_kva=rating).full_clean()
    assert "rating_kva" in exc.value.message_dict
    assert "rating must be positive" in messages(exc)


def test_a_feeder_needs_a_transformer():
    with pytest.raises(ValidationError) as exc:
        Feeder(name="F9").full_clean()
    assert "transformer" in exc.value.message_dict


@pytest.fixture
def feeder():
    t = transformer()
    t.save()
    return Feeder.objects.create(name="F1", transformer=t)


def test_a_cable_needs_a_length_and_a_known_type(feeder):
    with pytest.raises(ValidationError) as exc:
        LineSegment(
            feeder=feeder, name="P1", length_m=Decimal(0), cable_type="NAYY 4x150 SE"
        ).full_clean()
    assert "A cable must have a length." in messages(exc)
    with pytest.raises(ValidationError) as exc:
        LineSegment(
            feeder=feeder, name="P1", length_m=Decimal(40), cable_type="copper string"
        ).full_clean()
    assert "cable_type" in exc.value.message_dict
    assert not LineSegment.objects.exists()


def test_a_feeder_with_a_loop_is_refused(feeder):
    a = LineSegment.objects.create(feeder=feeder, name="A", length_m=40, cable_type="NAYY 4x150 SE")
    b = LineSegment.objects.create(
        feeder=feeder, name="B", upstream=a, length_m=40, cable_type="NAYY 4x150 SE"
    )
    a.upstream = b
    with pytest.raises(ValidationError) as exc:
        a.full_clean()
    assert "would close a loop" in messages(exc)
    assert "radial" in messages(exc)
    a.refresh_from_db()
    assert a.upstream is None


def test_a_segment_continues_its_own_feeder(feeder):
    other = Feeder.objects.create(name="F2", transformer=feeder.transformer)
    a = LineSegment.objects.create(feeder=other, name="A", length_m=40, cable_type="NAYY 4x150 SE")
    with pytest.raises(ValidationError) as exc:
        LineSegment(
            feeder=feeder, name="B", upstream=a, length_m=40, cable_type="NAYY 4x150 SE"
        ).full_clean()
    assert "on another feeder" in messages(exc)


def test_an_icp_on_a_feeder_without_a_transformer_is_refused(resident):
    stray = Feeder.objects.create(name="Old text feeder")  # as the migration leaves them
    base = "0000077777UN"
    with pytest.raises(ValidationError) as exc:
        services.icp_create(
            member=resident,
            identifier=base + nz.icp_checksum(base),
            address="1 Stray Street",
            grid_exit_point="PEN0331",
            feeder=stray,
            latitude=Decimal("-36.9"),
            longitude=Decimal("174.81"),
        )
    assert "Feeder Old text feeder has no transformer" in messages(exc)
    assert not ICP.objects.filter(identifier=base + nz.icp_checksum(base)).exists()


def test_an_icp_connects_to_a_segment_of_its_own_feeder(feeder):
    other = Feeder.objects.create(name="F2", transformer=feeder.transformer)
    elsewhere = LineSegment.objects.create(
        feeder=other, name="A", length_m=40, cable_type="NAYY 4x150 SE"
    )
    base = "0000077778UN"
    icp = ICP(
        identifier=base + nz.icp_checksum(base),
        address="2 Stray Street",
        grid_exit_point="PEN0331",
        feeder=feeder,
        connection_segment=elsewhere,
        latitude=Decimal("-36.9"),
        longitude=Decimal("174.81"),
    )
    with pytest.raises(ValidationError) as exc:
        icp.full_clean()
    assert "is not on this ICP's feeder" in messages(exc)
