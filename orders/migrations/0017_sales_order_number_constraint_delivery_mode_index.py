"""Two index entries fewer for every sales order written (a batch run writes thousands
of child orders): the order number unique by a constraint, without the pattern-matching
twin that unique=True adds on PostgreSQL and no query reads; the delivery mode indexed
only where an order names one (empty is the default mode), since that index serves only
refusing to delete a mode in use."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0004_customer_currency"),
        ("orders", "0016_index_only_what_is_read"),
        ("payments", "0004_reconcile_schedule"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="salesorder",
            name="delivery_mode",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="Empty: the default delivery mode.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="orders.deliverymode",
                verbose_name="delivery mode",
            ),
        ),
        migrations.AlterField(
            model_name="salesorder",
            name="number",
            field=models.CharField(max_length=20, verbose_name="sales order"),
        ),
        migrations.AddIndex(
            model_name="salesorder",
            index=models.Index(
                condition=models.Q(("delivery_mode__isnull", False)),
                fields=["delivery_mode"],
                name="sales_order_delivery_mode_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="salesorder",
            constraint=models.UniqueConstraint(
                fields=("number",), name="sales_order_number_unique"
            ),
        ),
    ]
