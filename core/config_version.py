"""The configuration's version: one number that changes whenever a configuration table
changes (items, programs, tax tables, delivery modes), so that what a process read of
those tables can be kept for later requests and checked with one small query
(core.read_once: a shared ReadOnce).

On PostgreSQL each configuration table has a statement trigger (before INSERT, UPDATE,
DELETE or TRUNCATE) that sets the one row of core_config_version to the next value of
its own sequence and a new random token, in the writer's transaction:
- readers see the new version exactly when they see the change (both commit together);
- a number is never given twice, even by a transaction that rolls back, so no answer kept
  under a number can belong to other data; the token covers what the sequence cannot
  (a database restored from a backup gives its old numbers again, with new tokens);
- the trigger takes the row's lock before it asks the sequence, so the numbers grow in
  commit order: a reader never meets an older number after a newer one;
- it marks the transaction (a setting local to it, undone with a rolled-back savepoint):
  what a transaction reads after changing the configuration itself is never kept.
Writers of configuration wait for each other from their first configuration statement
to their commit: administrators' edits, rare and short. Elsewhere (SQLite, `make run`)
there is no version and nothing is kept between blocks."""

from __future__ import annotations

import re

from django.db import connection

CONFIG_VERSION_TABLE = "core_config_version"
CONFIG_VERSION_SEQUENCE = "core_config_version_seq"
CONFIG_VERSION_BUMP = "core_config_version_bump"
# Set, local to the transaction, by the trigger: this transaction changed the configuration.
CONFIG_CHANGED_SETTING = "continuity.config_changed"

# What the core migration creates: the table, its sequence and the trigger function.
CREATE_CONFIG_VERSION_SQL = f"""
CREATE SEQUENCE {CONFIG_VERSION_SEQUENCE};
CREATE TABLE {CONFIG_VERSION_TABLE} (
    id smallint PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL,
    token uuid NOT NULL
);
INSERT INTO {CONFIG_VERSION_TABLE} (id, version, token)
VALUES (1, nextval('{CONFIG_VERSION_SEQUENCE}'), gen_random_uuid());
CREATE FUNCTION {CONFIG_VERSION_BUMP}() RETURNS trigger AS $$
BEGIN
    -- The row comes back if something emptied the table (a test run's flush).
    IF NOT EXISTS (SELECT 1 FROM {CONFIG_VERSION_TABLE} WHERE id = 1) THEN
        INSERT INTO {CONFIG_VERSION_TABLE} (id, version, token)
        VALUES (1, nextval('{CONFIG_VERSION_SEQUENCE}'), gen_random_uuid())
        ON CONFLICT (id) DO NOTHING;
    END IF;
    -- Locked first, numbered after: the number is taken once every earlier writer has
    -- committed, so it is greater than every number a reader can have seen.
    PERFORM 1 FROM {CONFIG_VERSION_TABLE} WHERE id = 1 FOR UPDATE;
    UPDATE {CONFIG_VERSION_TABLE}
    SET version = nextval('{CONFIG_VERSION_SEQUENCE}'), token = gen_random_uuid()
    WHERE id = 1;
    -- Until this transaction ends (or the savepoint it is in rolls back).
    PERFORM set_config('{CONFIG_CHANGED_SETTING}', 'on', true);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""
DROP_CONFIG_VERSION_SQL = f"""
DROP FUNCTION IF EXISTS {CONFIG_VERSION_BUMP}() CASCADE;
DROP TABLE IF EXISTS {CONFIG_VERSION_TABLE};
DROP SEQUENCE IF EXISTS {CONFIG_VERSION_SEQUENCE};
"""


def _trigger_name(table: str) -> str:
    return f"{table}_config_version"


def config_version_triggers_sql(tables: list[str]) -> str:
    """The triggers that make a write to each of `tables` a new configuration version
    (for an app's migration: each app names its own tables)."""
    return "\n".join(
        f"CREATE TRIGGER {_trigger_name(table)} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE "
        f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {CONFIG_VERSION_BUMP}();"
        for table in tables
    )


def config_version_triggers_drop_sql(tables: list[str]) -> str:
    return "\n".join(
        f"DROP TRIGGER IF EXISTS {_trigger_name(table)} ON {table};" for table in tables
    )


# The version as this transaction sees it, and whether this transaction changed the
# configuration itself (not committed: what it reads must not be kept for others).
_VERSION_SQL = f"""SELECT version, token,
    coalesce(current_setting('{CONFIG_CHANGED_SETTING}', true), '') = 'on'
FROM "{CONFIG_VERSION_TABLE}" WHERE id = 1"""

# (number, token): equal only for the same committed configuration.
ConfigVersion = tuple[int, object]


def config_version_read() -> ConfigVersion | None:
    """The configuration's committed version as this connection sees it now: (number,
    token), the numbers growing with each change; None where there is none to trust (not
    PostgreSQL, the row missing, or this transaction changed the configuration itself)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(_VERSION_SQL)
        row = cursor.fetchone()
    if row is None or row[2]:
        return None
    return (row[0], row[1])


def config_version_lock() -> None:
    """Take the version row's lock now, for the rest of the transaction: a configuration
    writer that locks configuration rows before it writes (the rate checks lock the tax
    group and the jurisdiction) takes it first, as every configuration statement's
    trigger does, so that two writers never hold one lock each and wait for the other."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT 1 FROM "{CONFIG_VERSION_TABLE}" WHERE id = 1 FOR UPDATE')


# The configuration tables as a statement names them (quoted by the ORM, or not).
CONFIG_TABLES = (
    "orders_item",
    "orders_taxgroup",
    "orders_taxjurisdiction",
    "orders_taxrate",
    "orders_pricetaxbasis",
    "orders_deliverymode",
    "continuity_continuityprogram",
    "continuity_programevent",
    "continuity_programeventline",
)
_CONFIG_TABLE_NAMED = re.compile(r"\b(?:" + "|".join(CONFIG_TABLES) + r")\b")


def statement_may_write_configuration(sql: str) -> bool:
    """Whether a statement may change a configuration table: anything but a plain read
    that names one (a false alarm only costs the block its shared answers)."""
    head = sql.lstrip()[:6].upper()
    return head not in ("SELECT", "SHOW", "SAVEPO", "RELEAS") and bool(
        _CONFIG_TABLE_NAMED.search(sql)
    )


def config_version_tables() -> list[str]:
    """The tables that have the version's trigger (for the checks and the tests)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid
            WHERE t.tgname = c.relname || '_config_version' AND NOT t.tgisinternal
            ORDER BY c.relname
            """
        )
        return [name for (name,) in cursor.fetchall()]
