from django.core.management.base import BaseCommand, CommandError, CommandParser

from devdata.customer_generator import (
    AccountRange,
    GenerationRefused,
    customers_generate,
)

DEFAULT_SEED = 20261129


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Generate many realistic customers for benchmarks (PostgreSQL only, loaded with "
        "COPY): accounts B0000001, B0000002, ... with names, e-mail, phone, language and "
        "one default shipping address each. A range that already holds customers is refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--count", type=_positive, default=1_000_000, help="customers (default 1,000,000)"
        )
        parser.add_argument(
            "--start",
            type=_positive,
            default=1,
            help="first account counter: --start 1 is B0000001 (default 1)",
        )
        parser.add_argument(
            "--batch-size",
            type=_positive,
            default=50_000,
            help="rows per COPY: bounds the memory of one buffer (default 50,000)",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=DEFAULT_SEED,
            help="random seed: the same seed and range give the same customers",
        )
        parser.add_argument(
            "--no-addresses", action="store_true", help="skip the default shipping addresses"
        )

    def handle(self, *args, count, start, batch_size, seed, no_addresses, **options):
        verbosity = options["verbosity"]
        try:
            account_range = AccountRange(start=start, count=count)
            result = customers_generate(
                account_range=account_range,
                batch_size=batch_size,
                seed=seed,
                with_addresses=not no_addresses,
                progress=self._progress(count) if verbosity >= 1 else None,
            )
        except GenerationRefused as refusal:
            # Exit code 2 with one line: scripts (`make bench`) tell a refusal from a crash.
            raise CommandError(str(refusal), returncode=2) from None
        rate = result.customers / result.seconds if result.seconds else 0
        self.stdout.write(
            self.style.SUCCESS(
                f"Generated {result.customers:,} customers ({account_range.first_account}.."
                f"{account_range.last_account}) and {result.addresses:,} addresses in "
                f"{result.seconds:.1f} s ({rate:,.0f} customers/s)."
            )
        )

    def _progress(self, total: int):
        def report(done: int) -> None:
            self.stdout.write(f"  {done:>12,} / {total:,} customers", ending="\n")
            self.stdout.flush()

        return report
