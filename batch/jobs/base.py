"""The batch job declaration and its registry.

A batch job is one `BatchJobSpec` subclass, registered once in `batch/jobs/__init__.py`.
batch.services runs any registered job through the methods below, and the pages, API,
admin, tasks and commands read the declaration (its label, its summary line, the child
orders it made); none of them asks which job a run is.

To add a job:

1. Add its stored value to `batch.models.BatchJob` and make the migration
   (`manage.py makemigrations batch`): the run's `job` column lists its choices.
2. Write the job in its own module of `batch/jobs/`: a `BatchJobSpec` subclass whose
   `name` is that value, with `plan`, `dry_run_summary`, `process` and `summary_line`
   (and `before_planning`, `after_run`, `summary`, `child_orders`, `limit_help` when the
   defaults do not fit).
3. Register it in `batch/jobs/__init__.py`: `job_register(MyJob())`.

It then has its start page (`/batch/<name>/`), its place in the API's `job` choices, the
admin's filter, and a beat task `batch.scheduled_<name>` to schedule (a PeriodicTask
row; a data migration when it must run by default). A management command of its own is
a three-line module in `batch/management/commands/` naming the job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ImproperlyConfigured

from batch.models import BatchChunk, BatchJob, BatchRun
from continuity.planning import horizon_date
from continuity.selectors import subscriptions_to_plan
from continuity.services import subscriptions_materialise
from continuity.subscription_actions.pause import subscriptions_resume_due
from core.actors import Actor


@dataclass
class Plan:
    """A run's work: groups of shipment ids (a group is never split across chunks), the
    shipments left out with their reason, and counts for the run's summary.

    The groups may come one by one (an iterator, read once, inside the planning
    transaction): a run of a million shipments is then never held in memory whole. Such
    a job may add to `not_processed` as it gives them; it is read after the last one."""

    groups: Iterable[list[int]]
    not_processed: list[tuple[int, str]] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


class BatchJobSpec(ABC):
    """What batch.services and the interfaces need of a job."""

    # The run's stored `job` value, one of BatchJob.
    name: str
    # What the command's --limit caps, for a job whose `plan` honours a run's limit;
    # empty: the job takes no limit.
    limit_help: str = ""

    @property
    def label(self) -> str:
        return BatchJob(self.name).label

    def before_planning(self, run: BatchRun) -> None:
        """Work done outside the planning transaction, before it, harmless to repeat
        (it may call the gateway, which never happens inside a transaction)."""
        subscriptions_resume_due(actor=actor_of(run))

    @abstractmethod
    def plan(self, run: BatchRun) -> Plan:
        """Select the run's work, inside the transaction that holds the run's row."""

    @abstractmethod
    def dry_run_summary(self, run: BatchRun, plan: Plan) -> dict:
        """What a dry run reports it would do with `plan`."""

    @abstractmethod
    def process(self, run: BatchRun, chunk: BatchChunk, *, final: bool = False) -> bool:
        """Do what is left of the chunk; False when it was over already. Raises
        ChunkIncomplete while shipments are held elsewhere (unless `final`)."""

    def after_run(self, run: BatchRun) -> dict | None:
        """Work owed once the run is over, after it committed and outside its lock (it
        may call the gateway); a dict returned joins the run's summary."""
        return None

    def summary(self, run: BatchRun, totals: Counter, amount: Decimal) -> dict:
        """The job's own part of the summary of a run that has finished."""
        return {}

    @abstractmethod
    def summary_line(self, run: BatchRun) -> str:
        """The one-line summary of a finished run, dry runs included (the run page, the
        API's summary_line, the commands)."""

    def child_orders(self, run: BatchRun):
        """The child orders the run created, for the run page and the API."""
        return []


def actor_of(run: BatchRun) -> Actor:
    return Actor.job(f"{run.job} run #{run.pk}")


def plan_ahead(run: BatchRun) -> int:
    """Open-ended subscriptions get their shipments planned up to the horizon first."""
    through = horizon_date(run_date=run.run_date)
    ids = subscriptions_to_plan(
        through=through, item_id=run.item_id, parent_order_id=run.sales_order_id
    )
    if run.dry_run or not ids:
        return 0
    return subscriptions_materialise(subscription_ids=ids, through=through, actor=actor_of(run))


# --- Registry -------------------------------------------------------------------------------

_JOBS: dict[str, BatchJobSpec] = {}


def job_register(job: BatchJobSpec) -> BatchJobSpec:
    if job.name not in BatchJob.values:
        raise ImproperlyConfigured(f"Batch job {job.name!r} is not one of BatchJob's values.")
    if job.name in _JOBS:
        raise ImproperlyConfigured(f"Batch job {job.name!r} is registered twice.")
    _JOBS[job.name] = job
    return job


def job_for(name: str) -> BatchJobSpec:
    """The registered job of that name; KeyError for any other name."""
    return _JOBS[name]


def job_is_registered(name: str) -> bool:
    return name in _JOBS


def registered_jobs() -> list[BatchJobSpec]:
    """Every job, in the order they were registered (the order of the menus)."""
    return list(_JOBS.values())
