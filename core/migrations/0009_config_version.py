from django.db import migrations

from core.config_version import CREATE_CONFIG_VERSION_SQL, DROP_CONFIG_VERSION_SQL
from core.migration_operations import PostgresOnlySQL


class Migration(migrations.Migration):
    """The configuration's version (core.config_version): its table, sequence and the
    function the configuration tables' triggers call (each app adds its own triggers)."""

    dependencies = [("core", "0008_history_rows_lighter")]

    operations = [PostgresOnlySQL(sql=CREATE_CONFIG_VERSION_SQL, reverse_sql=DROP_CONFIG_VERSION_SQL)]
