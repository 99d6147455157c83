"""The shipped example scenarios (lab/scenarios/*.yaml) as the lab page's first scenarios, so
a fresh site has something to run. Their data paths point at ../shared/data; without it they
run on labelled synthetic data where they allow it, or say which file is missing."""

from pathlib import Path

from django.db import migrations

FOLDER = Path(__file__).resolve().parents[1] / "scenarios"
NAMES = {"auckland-100.yaml": "Auckland suburb, 100 homes", "demo-coop.yaml": "Demo co-op"}


def create(apps, schema_editor):
    Scenario = apps.get_model("lab", "Scenario")
    for file, name in NAMES.items():
        path = FOLDER / file
        if path.is_file():
            Scenario.objects.get_or_create(name=name, defaults={"text": path.read_text()})


def remove(apps, schema_editor):
    apps.get_model("lab", "Scenario").objects.filter(name__in=NAMES.values()).delete()


class Migration(migrations.Migration):
    dependencies = [("lab", "0002_researcher_group")]

    operations = [migrations.RunPython(create, remove)]
