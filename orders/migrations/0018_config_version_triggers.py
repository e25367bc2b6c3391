from django.db import migrations

from core.config_version import config_version_triggers_drop_sql, config_version_triggers_sql
from core.migration_operations import PostgresOnlySQL

# What pricing reads and a process keeps between requests (core.read_once): a write to
# any of them is a new configuration version.
TABLES = [
    "orders_item",
    "orders_taxgroup",
    "orders_taxjurisdiction",
    "orders_taxrate",
    "orders_pricetaxbasis",
    "orders_deliverymode",
]


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0009_config_version"),
        ("orders", "0017_sales_order_number_constraint_delivery_mode_index"),
    ]

    operations = [
        PostgresOnlySQL(
            sql=config_version_triggers_sql(TABLES),
            reverse_sql=config_version_triggers_drop_sql(TABLES),
        )
    ]
