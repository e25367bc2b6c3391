import time

from django.core.management.base import CommandError
from django.db import connection, transaction

from core.management.one_line import OneLineErrorCommand, whole_number

# The covering name-order index of migration 0003: the table is rewritten in its order.
NAME_ORDER_INDEX = "customer_search_order_idx"
TABLE = "customers_customer"


def last_name_correlation() -> float | None:
    """PostgreSQL's estimate (from the latest ANALYZE) of how closely the table's physical
    order follows the last names: 1.0 right after a CLUSTER, near 0 for random order."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT correlation FROM pg_stats "
            "WHERE schemaname = current_schema() AND tablename = %s AND attname = 'last_name'",
            [TABLE],
        )
        row = cursor.fetchone()
    return None if row is None or row[0] is None else float(row[0])


def is_clustered() -> bool:
    """Whether the table was clustered on the name-order index (it stays marked so until
    another CLUSTER; new rows may have loosened the order since: see the correlation)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indisclustered FROM pg_index WHERE indexrelid = to_regclass(%s)",
            [NAME_ORDER_INDEX],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


class Command(OneLineErrorCommand):
    help = (
        "Rewrite the customers table in name order (PostgreSQL CLUSTER on the covering "
        "name-order index), so that a common last name's customers share a few table "
        "pages and its search stays fast. It locks the table against reads and writes "
        "while it runs (about a minute per million customers): run it in a maintenance "
        "window. Exit status: 0 done, 1 the lock was not granted in time, 2 bad arguments "
        "or not PostgreSQL."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--lock-timeout",
            type=whole_number("seconds", minimum=1),
            default=10,
            metavar="SECONDS",
            help="give up if the table's lock is not granted within SECONDS (default 10): "
            "waiting for it would hold up every query on the customers meanwhile",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="only say whether the table is clustered and how well its order still "
            "follows the names (no lock, nothing written)",
        )

    def handle(self, *args, lock_timeout, check, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                f"cluster_customers needs PostgreSQL; this database is {connection.vendor}.",
                returncode=2,
            )
        if check:
            correlation = last_name_correlation()
            shown = "unknown (not analyzed yet)" if correlation is None else f"{correlation:.3f}"
            self.stdout.write(
                f"{TABLE}: {'clustered' if is_clustered() else 'not clustered'} on "
                f"{NAME_ORDER_INDEX}; correlation of last_name with the physical order {shown}."
            )
            return
        started = time.monotonic()
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # SET LOCAL: the timeout ends with this transaction, not with the connection.
                cursor.execute(f"SET LOCAL lock_timeout = '{lock_timeout}s'")
                cursor.execute(f"CLUSTER {TABLE} USING {NAME_ORDER_INDEX}")
        except Exception as error:
            if getattr(error.__cause__, "pgcode", None) == "55P03":  # lock_not_available
                raise CommandError(
                    f"The customers table stayed in use for {lock_timeout} s: nothing done. "
                    "Run it again when fewer sessions use it, or with a longer --lock-timeout.",
                    returncode=1,
                ) from None
            raise
        clustered = time.monotonic() - started
        # CLUSTER writes a new table without its visibility map: until a VACUUM marks its
        # pages all-visible again, the search's index-only walk reads a table page for
        # every row it walks. ANALYZE with it: the statistics follow the new order.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {TABLE}")
            cursor.execute(f"SELECT count(*) FROM {TABLE}")
            (customers,) = cursor.fetchone()
        vacuumed = time.monotonic() - started - clustered
        correlation = last_name_correlation()
        self.stdout.write(
            f"Clustered {customers:,} customers on {NAME_ORDER_INDEX} in {clustered:.1f} s "
            f"(the table locked meanwhile), vacuumed and analyzed in {vacuumed:.1f} s; "
            f"correlation of last_name now "
            f"{'unknown' if correlation is None else f'{correlation:.3f}'}."
        )
