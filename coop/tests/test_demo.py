import pytest
from django.core.management import call_command

from coop.models import ICP, Battery, ElectricVehicle, Member, PVSystem, Tariff

pytestmark = pytest.mark.django_db


def counts():
    return [m.objects.count() for m in (Member, ICP, PVSystem, Battery, ElectricVehicle, Tariff)]


def test_seed_demo_builds_the_community_once(client):
    call_command("seed_demo", verbosity=0)
    first = counts()
    call_command("seed_demo", verbosity=0)
    assert counts() == first
    members, icps, pv, batteries, evs, tariffs = first
    assert icps == tariffs == 20
    assert members == 21
    assert 0.5 <= pv / icps <= 0.7
    assert 0.2 <= batteries / icps <= 0.3
    assert 0.15 <= evs / icps <= 0.25
    assert set(ICP.objects.values_list("grid_exit_point", flat=True)) == {"PEN0331"}
    assert ICP.objects.values("feeder").distinct().count() == 2
    for icp in ICP.objects.all():
        lat, lon = float(icp.latitude), float(icp.longitude)
        assert -36.92 < lat < -36.88
        assert 174.80 < lon < 174.83
    logged_in = client.post("/accounts/login/", {"username": "aroha", "password": "hapori-demo"})
    assert logged_in.status_code == 302
    page = client.get("/").content.decode()
    assert "Aroha" in page
    assert "kWh battery" in page
