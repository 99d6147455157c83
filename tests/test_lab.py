"""The lab on the site: who may use it, runs through the pipeline (chunked like on workers),
live progress, reports served sandboxed, and failures recorded with nothing half-made shown."""

import json

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from lab import pipeline, services
from lab.core import runner
from lab.core.scenario import parse
from lab.models import Run, Scenario

pytestmark = pytest.mark.django_db

TINY = """name: Tiny street
seed: 3
community: {homes: 8, transformers: 1, mix: {pv: 0.5, battery: 0.25, ev: 0.25}}
span: {from: 2026-06-01, to: 2026-06-03}
data: {synthetic_prices: true, synthetic_weather: true}
designs:
  mechanisms: [retailer_only, uniform, mid_market]
  batteries: [self_consumption]
  time_value: [false]
"""


@pytest.fixture(autouse=True)
def runs_dir(settings, tmp_path):
    settings.LAB_RUNS_DIR = tmp_path / "lab"
    settings.LAB_CHUNK_DAYS = 1
    settings.LAB_DATA_DIRS = [*settings.LAB_DATA_DIRS, str(tmp_path)]
    return settings.LAB_RUNS_DIR


@pytest.fixture
def researcher(db):
    user = User.objects.create_user("researcher", password="pw-researcher")
    user.groups.add(Group.objects.get(name="researcher"))
    return user


@pytest.fixture
def scenario(db):
    return Scenario.objects.create(name="Tiny street", text=TINY)


def test_the_lab_is_for_staff_and_researchers_only(client, resident, coop_admin, researcher):
    url = reverse("lab")
    assert client.get(url)["Location"].startswith(reverse("login"))
    client.force_login(resident.user)
    assert client.get(url).status_code == 403
    assert "Lab" not in client.get(reverse("home")).content.decode().split("<main")[0]
    for user in (coop_admin.user, researcher):
        client.force_login(user)
        page = client.get(url)
        assert page.status_code == 200
        assert 'href="/lab/"' in page.content.decode()


def test_a_run_goes_through_every_chunk_and_matches_one_process(client, researcher, scenario):
    client.force_login(researcher)
    run = services.run_create(scenario=scenario, user=researcher)
    results = pipeline.run_here(run.pk)
    run.refresh_from_db()
    assert run.state == Run.State.DONE, run.error
    assert run.chunks == 3
    assert run.chunks_done == 3
    # The same scenario in one process, unchunked: the same money to the cent.
    whole = runner.run(runner.prepare(parse(TINY)))
    assert results.summary["bills_nzd"].tolist() == whole.summary["bills_nzd"].tolist()
    assert results.members["bill_nzd"].tolist() == whole.members["bill_nzd"].tolist()
    assert all(row["periods_balanced"] == 144 for row in run.summary)
    page = client.get(reverse("lab-run", args=[run.pk])).content.decode()
    assert "Open the report" in page
    assert "members.parquet" in page
    assert "Uniform price" in page
    progress = client.get(reverse("lab-run-progress", args=[run.pk])).json()
    assert progress["state"] == "done"
    assert progress["percent"] == 100
    report = client.get(reverse("lab-run-file", args=[run.pk, "report.html"]))
    assert report.status_code == 200
    policy = report["Content-Security-Policy"]
    assert "sandbox allow-scripts" in policy
    assert "default-src 'none'" in policy
    csv = client.get(reverse("lab-run-file", args=[run.pk, "summary.csv"]))
    assert "attachment" in csv["Content-Disposition"]
    assert client.get(reverse("lab-run-file", args=[run.pk, "..%2Fsecret"])).status_code == 404
    assert not (run.folder / "work").exists()


def test_a_run_that_fails_records_why_and_keeps_nothing(client, researcher, tmp_path):
    text = TINY.replace(
        "data: {synthetic_prices: true, synthetic_weather: true}",
        f"data: {{price_files: [{tmp_path / 'missing.csv'}], synthetic_prices: false}}",
    )
    scenario = Scenario.objects.create(name="Broken", text=text)
    run = services.run_create(scenario=scenario, user=researcher)
    with pytest.raises(pipeline.RunFailed):
        pipeline.start(run.pk)
    run.refresh_from_db()
    assert run.state == Run.State.FAILED
    assert "missing.csv" in run.error
    assert not run.folder.exists()
    client.force_login(researcher)
    assert client.get(reverse("lab-run-file", args=[run.pk, "report.html"])).status_code == 404
    assert "missing.csv" in client.get(reverse("lab-run", args=[run.pk])).content.decode()


def test_a_duplicate_delivery_changes_nothing(researcher, scenario):
    run = services.run_create(scenario=scenario, user=researcher)
    pipeline.run_here(run.pk)
    run.refresh_from_db()
    done = (run.state, run.chunks_done, run.summary)
    assert pipeline.start(run.pk) == 0
    assert pipeline.chunk(run.pk, 0) is False
    run.refresh_from_db()
    assert (run.state, run.chunks_done, run.summary) == done


def test_scenarios_are_checked_when_saved(client, researcher):
    client.force_login(researcher)
    page = client.post(
        reverse("lab-scenario-new"),
        {"name": "Bad", "text": TINY.replace("homes: 8", "homes: 8, colour: red")},
    )
    assert page.status_code == 400
    assert "community.colour: unknown key" in page.content.decode()
    assert not Scenario.objects.filter(name="Bad").exists()
    page = client.post(reverse("lab-scenario-new"), {"name": "Good", "text": TINY})
    saved = Scenario.objects.get(name="Good")
    assert page["Location"] == reverse("lab-scenario", args=[saved.pk])
    # The quick fields write into the YAML.
    client.post(
        reverse("lab-scenario", args=[saved.pk]),
        {"name": "Good", "text": saved.text, "homes": 12, "battery_share": 0.5},
    )
    saved.refresh_from_db()
    assert parse(saved.text).community.homes == 12
    assert parse(saved.text).community.mix.battery == 0.5


def test_a_sweep_queues_one_run_per_value(
    client, researcher, scenario, django_capture_on_commit_callbacks
):
    client.force_login(researcher)
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(
            reverse("lab-scenario-sweep", args=[scenario.pk]),
            {"setting": "community.mix.battery", "values": "0, 0.5, 1"},
        )
    assert response.status_code == 302
    runs = Run.objects.filter(sweep__isnull=False).order_by("pk")
    assert [parse(r.text).community.mix.battery for r in runs] == [0.0, 0.5, 1.0]
    assert len(queued) == 3
    bad = client.post(
        reverse("lab-scenario-sweep", args=[scenario.pk]),
        {"setting": "community.mix.battery", "values": "0, 2"},
    )
    assert bad.status_code == 302
    assert Run.objects.filter(sweep__isnull=False).count() == 3
    assert "at most 1" in json.dumps([str(m) for m in bad.wsgi_request._messages])


def test_a_start_whose_worker_died_is_taken_over(researcher, scenario):
    import datetime as dt

    from django.utils import timezone

    run = Run.objects.create(
        scenario=scenario,
        name="x",
        text=TINY,
        state=Run.State.RUNNING,
        starts=1,  # a worker claimed it
        heartbeat=timezone.now() - dt.timedelta(minutes=2),
    )
    # Still reporting: a second delivery of its start leaves it to the first.
    assert pipeline.start(run.pk) == 0
    Run.objects.filter(pk=run.pk).update(heartbeat=timezone.now() - dt.timedelta(hours=1))
    assert pipeline.start(run.pk) == 3
    run.refresh_from_db()
    assert run.state == Run.State.RUNNING
    assert run.chunks == 3
    # It dies again: the second takeover fails it with a reason rather than loop.
    Run.objects.filter(pk=run.pk).update(chunks=0, heartbeat=timezone.now() - dt.timedelta(hours=1))
    assert pipeline.start(run.pk) == 0
    run.refresh_from_db()
    assert run.state == Run.State.FAILED
    assert "stopped twice" in run.error


def test_a_scenario_on_the_site_reads_only_the_labs_data_folders(client, researcher):
    client.force_login(researcher)
    text = TINY.replace(
        "data: {synthetic_prices: true, synthetic_weather: true}",
        "data: {price_files: [/etc/passwd], synthetic_prices: true}",
    )
    page = client.post(reverse("lab-scenario-new"), {"name": "Sneaky", "text": text})
    assert page.status_code == 400
    assert "outside the lab&#x27;s data folders" in page.content.decode()
    assert not Scenario.objects.filter(name="Sneaky").exists()
