import django.db.models.expressions
from django.db import migrations, models


class Migration(migrations.Migration):
    """The sales-orders lookup's index: sold continuity parent orders, newest first, with
    their customer (continuity.lookups)."""

    dependencies = [
        ("orders", "0014_totals_rounded_to_the_cent"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="salesorder",
            index=models.Index(
                django.db.models.expressions.OrderBy(
                    django.db.models.expressions.F("id"), descending=True
                ),
                models.F("customer"),
                condition=models.Q(
                    ("kind", "continuity_parent"), models.Q(("status", "open"), _negated=True)
                ),
                name="sales_order_parent_lookup_idx",
            ),
        ),
    ]
