from django.db import migrations

from core.migration_operations import PostgresOnlySQL


class Migration(migrations.Migration):
    """The audit trail is append-only in the database itself: an UPDATE or DELETE of an
    entry raises. (TRUNCATE, which test runs use to empty tables, fires no row trigger.)"""

    dependencies = [("core", "0002_notification")]

    operations = [
        PostgresOnlySQL(
            sql="""
                CREATE FUNCTION core_auditentry_append_only() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION 'audit entries are append-only';
                END;
                $$ LANGUAGE plpgsql;
                CREATE TRIGGER core_auditentry_append_only
                    BEFORE UPDATE OR DELETE ON core_auditentry
                    FOR EACH ROW EXECUTE FUNCTION core_auditentry_append_only();
            """,
            reverse_sql="""
                DROP TRIGGER IF EXISTS core_auditentry_append_only ON core_auditentry;
                DROP FUNCTION IF EXISTS core_auditentry_append_only();
            """,
        ),
    ]
