from django.db import migrations

from core.migration_operations import PostgresOnlySQL


class Migration(migrations.Migration):
    dependencies = [("customers", "0002_search_trigram_index")]

    operations = [
        # Serves the first strategy of customer search (customers.selectors): the customers
        # in result order with their search document, read from the index alone (an
        # index-only scan, no table row visited) and filtered until enough match.
        PostgresOnlySQL(
            sql=(
                "CREATE INDEX customer_search_order_idx ON customers_customer "
                "(last_name, first_name, account_number) INCLUDE (search_document)"
            ),
            reverse_sql="DROP INDEX IF EXISTS customer_search_order_idx",
        ),
    ]
