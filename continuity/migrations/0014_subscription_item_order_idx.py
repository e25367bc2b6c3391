from django.db import migrations, models


class Migration(migrations.Migration):
    """The sales-orders lookup of one item: its parent orders, newest first
    (continuity.lookups)."""

    dependencies = [
        ("continuity", "0013_totals_rounded_to_the_cent"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="subscription",
            index=models.Index(
                fields=["item", "-parent_order"], name="subscription_item_order_idx"
            ),
        ),
    ]
