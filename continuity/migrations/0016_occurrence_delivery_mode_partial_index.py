"""The shipment's delivery mode indexed only where it names one (empty is the default
mode): the child-order job's update of every shipment it orders writes a new entry in
each index that holds the row, and this index serves only refusing to delete a mode."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("continuity", "0015_index_only_what_is_read"),
        ("customers", "0004_customer_currency"),
        ("orders", "0016_index_only_what_is_read"),
        ("payments", "0004_reconcile_schedule"),
    ]

    operations = [
        migrations.AlterField(
            model_name="occurrence",
            name="delivery_mode",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="The event's mode, else the order's, else the default when priced.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="orders.deliverymode",
                verbose_name="delivery mode",
            ),
        ),
        migrations.AddIndex(
            model_name="occurrence",
            index=models.Index(
                condition=models.Q(("delivery_mode__isnull", False)),
                fields=["delivery_mode"],
                name="occurrence_delivery_mode_idx",
            ),
        ),
    ]
