"""The "researcher" group: members of it may use the lab (and nothing else in the admin)."""

from django.db import migrations


def create(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name="researcher")


def remove(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="researcher").delete()


class Migration(migrations.Migration):
    dependencies = [("lab", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create, remove)]
