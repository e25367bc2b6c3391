from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from core.migration_operations import PostgresOnlySQL


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]

    operations = [
        TrigramExtension(),
        # Serves `search_document LIKE '%word%'` for any word of three letters or more.
        PostgresOnlySQL(
            sql=(
                "CREATE INDEX customer_search_trgm_idx ON customers_customer "
                "USING gin (search_document gin_trgm_ops)"
            ),
            reverse_sql="DROP INDEX IF EXISTS customer_search_trgm_idx",
        ),
    ]
