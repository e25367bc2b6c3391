from django.db import migrations

from core.config_version import config_version_triggers_drop_sql, config_version_triggers_sql
from core.migration_operations import PostgresOnlySQL

# A program's definition, which quotes read and a process keeps between requests
# (core.read_once): a write to any of them is a new configuration version.
TABLES = [
    "continuity_continuityprogram",
    "continuity_programevent",
    "continuity_programeventline",
]


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0009_config_version"),
        ("continuity", "0016_occurrence_delivery_mode_partial_index"),
    ]

    operations = [
        PostgresOnlySQL(
            sql=config_version_triggers_sql(TABLES),
            reverse_sql=config_version_triggers_drop_sql(TABLES),
        )
    ]
