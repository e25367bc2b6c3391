from django.db import migrations

from core.migration_operations import PostgresOnlySQL


class Migration(migrations.Migration):
    dependencies = [("orders", "0002_initial")]

    operations = [
        PostgresOnlySQL(
            sql="CREATE SEQUENCE sales_order_number_seq START 1",
            reverse_sql="DROP SEQUENCE IF EXISTS sales_order_number_seq",
        ),
    ]
