"""Fewer index writes and key checks per order, trade, settlement line and summary.

- An index that a composite one starts with goes: (member, period) serves order and settlement
  line lookups by member; the unique (period, sequence) and (period, member) serve trades' and
  summaries' lookups by period.
- Orders' (period, status) goes, and inserts fill each order page only half: the clearing sets
  every order's outcome in the period, and with `status` in no index and room on the page for
  the new version PostgreSQL rewrites no index entry for it (a HOT update). A period's orders
  are mostly placed together (standing orders and energy plans, when the period opens), so
  they share pages, and an order is updated once in its life: half a page leaves room for
  every one of them. The price is an orders table twice the size. Measured on a 5,000-member
  period (20,000 orders, two cores, quiet): setting the outcomes took 0.17 s at 50 (all HOT),
  0.33-0.38 s at 70 (43% HOT) and 0.38-0.57 s at 100, of a clearing of 0.7-0.9 s at 50.
- A trade's buyer, seller and their ICPs, copies of its orders', are not checked again by the
  database (see trading.models.Trade).
"""

import django.db.models.deletion
from django.db import migrations, models

# Percent of each order page filled by inserts (PostgreSQL's default is 100).
ORDER_FILLFACTOR = 50


def order_fillfactor(apps, schema_editor, percent=ORDER_FILLFACTOR):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite has no such setting; make run's co-op is small
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE trading_order SET (fillfactor = {int(percent)})")


def order_fillfactor_default(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("ALTER TABLE trading_order RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("coop", "0005_sharing"),
        ("trading", "0012_order_member_period"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="order",
            name="trading_ord_period__9d13de_idx",
        ),
        migrations.AlterField(
            model_name="memberperiodsummary",
            name="period",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="summaries",
                to="trading.tradingperiod",
            ),
        ),
        migrations.AlterField(
            model_name="order",
            name="member",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="orders",
                to="coop.member",
            ),
        ),
        migrations.AlterField(
            model_name="settlementline",
            name="member",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="settlement_lines",
                to="coop.member",
            ),
        ),
        migrations.AlterField(
            model_name="trade",
            name="period",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="trades",
                to="trading.tradingperiod",
            ),
        ),
        migrations.AlterField(
            model_name="trade",
            name="buyer",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="purchases",
                to="coop.member",
            ),
        ),
        migrations.AlterField(
            model_name="trade",
            name="buyer_icp",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="purchases",
                to="coop.icp",
            ),
        ),
        migrations.AlterField(
            model_name="trade",
            name="seller",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="sales",
                to="coop.member",
            ),
        ),
        migrations.AlterField(
            model_name="trade",
            name="seller_icp",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="sales",
                to="coop.icp",
            ),
        ),
        migrations.RunPython(order_fillfactor, order_fillfactor_default),
    ]
