from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lab", "0003_example_scenarios")]

    operations = [
        migrations.AddField(
            model_name="run",
            name="heartbeat",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="run",
            name="starts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
