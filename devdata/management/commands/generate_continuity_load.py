import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.dates import business_date
from devdata.continuity_load.generate import LoadRefused, continuity_load_generate
from devdata.demo import demo_data_load

BAD_ARGUMENTS = 2


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def _date(value: str) -> datetime.date:
    return datetime.date.fromisoformat(value)


class Command(BaseCommand):
    help = (
        "Generate many sold subscriptions for benchmarks (PostgreSQL only, loaded with "
        "COPY): customers, cards (also in the gateway simulator, approving), submitted "
        "parent orders and their sales, subscriptions and every shipment with its lines. "
        "On the start date each subscription has one paid shipment due for a child order; "
        "on the printed payment run date, one shipment due for a charge."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--count", type=_positive, default=100_000, help="subscriptions (default 100,000)"
        )
        parser.add_argument(
            "--start-date",
            type=_date,
            default=None,
            help="the day they were sold, YYYY-MM-DD (default today)",
        )
        parser.add_argument(
            "--item", default="88000", help="continuity item sold (default 88000, WELLNESS6)"
        )
        parser.add_argument(
            "--batch-size",
            type=_positive,
            default=10_000,
            help="subscriptions per round of COPY: bounds the buffers' memory (default 10,000)",
        )

    def handle(self, *args, count, start_date, item, batch_size, **options):
        # Items, programs, the Visa method and the parameters the load refers to.
        demo_data_load()
        start_date = start_date or business_date()
        progress = None
        if options["verbosity"] >= 1:

            def progress(done: int) -> None:
                self.stdout.write(f"  {done:>12,} / {count:,} subscriptions")
                self.stdout.flush()

        try:
            result = continuity_load_generate(
                count=count,
                start_date=start_date,
                item_number=item,
                batch_size=batch_size,
                progress=progress,
            )
        except LoadRefused as refusal:
            raise CommandError(str(refusal), returncode=BAD_ARGUMENTS) from None
        rate = result.rows / result.seconds if result.seconds else 0
        self.stdout.write(
            self.style.SUCCESS(
                f"Generated {result.subscriptions:,} subscriptions of item {item} sold on "
                f"{result.start_date} ({result.occurrences:,} shipments, {result.rows:,} rows) "
                f"in {result.seconds:.1f} s ({rate:,.0f} rows/s)."
            )
        )
        self.stdout.write(
            f"Due for child orders on {result.child_order_run_date}: "
            f"{result.subscriptions:,} paid shipments."
        )
        if result.payment_run_date:
            self.stdout.write(
                f"Due for payment on {result.payment_run_date}: "
                f"{result.subscriptions:,} scheduled shipments."
            )
