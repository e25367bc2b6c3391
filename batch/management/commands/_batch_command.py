"""What the two batch commands share: arguments, validation, progress bar, summary."""

import datetime
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from batch.jobs import job_for
from batch.presenters import batch_run_summary_line
from batch.services import batch_run_inline, batch_run_request
from core.actors import Actor

BAD_ARGUMENTS = 2


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"--date must be a date like 2026-11-30, not {value!r}.", returncode=BAD_ARGUMENTS
        ) from None


class BatchCommand(BaseCommand):
    # The registered job the command runs.
    job: str

    def add_arguments(self, parser):
        parser.add_argument("--item", default="", help="Continuity item number, e.g. 88000.")
        parser.add_argument("--order", default="", help="One continuity parent sales order.")
        parser.add_argument("--date", default="", help="Run date (YYYY-MM-DD); default today.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would happen; change nothing."
        )
        limit_help = job_for(self.job).limit_help
        if limit_help:
            parser.add_argument("--limit", type=int, default=None, help=limit_help)

    def handle(self, *args, **options):
        run_date = _date(options["date"]) if options["date"] else None
        try:
            run = batch_run_request(
                job=self.job,
                actor=Actor.job("command"),
                item_number=options["item"],
                order_number=options["order"],
                run_date=run_date,
                dry_run=options["dry_run"],
                limit=options.get("limit"),
            )
        except ValidationError as error:
            message = " ".join(
                message for messages in error.message_dict.values() for message in messages
            )
            raise CommandError(message, returncode=BAD_ARGUMENTS) from None
        run = batch_run_inline(run, progress=self._progress)
        if sys.stdout.isatty() or run.chunk_count:
            self.stdout.write("")
        self.stdout.write(batch_run_summary_line(run))
        if run.status == "failed":
            raise CommandError(run.error_message)

    def _progress(self, run):
        width = 30
        done = run.processed_count + 0
        total = max(run.selected_count, 1)
        filled = int(width * min(done, total) / total)
        self.stdout.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{run.selected_count} "
            f"chunks {run.chunks_done}/{run.chunk_count}",
            ending="",
        )
        self.stdout.flush()
