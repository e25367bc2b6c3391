from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from continuity.models import ShipmentProblem


class BatchJob(models.TextChoices):
    PROCESS_PAYMENTS = "process_payments", _("Process continuity payments")
    CREATE_CHILD_ORDERS = "create_child_orders", _("Create continuity child orders")


class BatchRunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FINISHED_WITH_PROBLEMS = "finished_with_problems", _("Finished with problems")
    # Some chunks failed (their error is on the run), the others were done.
    PARTIAL = "partial", _("Partly failed")
    FAILED = "failed", _("Failed")


# A run in one of these is over: no worker works on it until someone resumes it.
FINISHED_RUN_STATUSES = frozenset(
    {
        BatchRunStatus.SUCCEEDED,
        BatchRunStatus.FINISHED_WITH_PROBLEMS,
        BatchRunStatus.PARTIAL,
        BatchRunStatus.FAILED,
    }
)
# A run in one of these is waiting for a worker or being worked on.
UNFINISHED_RUN_STATUSES = frozenset({BatchRunStatus.QUEUED, BatchRunStatus.RUNNING})
# A run in one of these can be dispatched again (by the watchdog or a supervisor).
RESUMABLE_RUN_STATUSES = frozenset(
    {BatchRunStatus.QUEUED, BatchRunStatus.RUNNING, BatchRunStatus.PARTIAL, BatchRunStatus.FAILED}
)


class BatchRun(models.Model):
    """One run of a batch job: its parameters, who started it, and what it did."""

    job = models.CharField(_("job"), max_length=24, choices=BatchJob.choices)
    status = models.CharField(
        _("status"), max_length=24, choices=BatchRunStatus.choices, default=BatchRunStatus.QUEUED
    )
    item = models.ForeignKey(
        "orders.Item",
        verbose_name=_("continuity item"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    sales_order = models.ForeignKey(
        "orders.SalesOrder",
        verbose_name=_("sales order"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    run_date = models.DateField(_("run date"))
    dry_run = models.BooleanField(_("dry run"), default=False)
    limit = models.PositiveIntegerField(_("limit"), null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # "agent01", "beat", "command", "api": who or what asked for the run.
    started_by_label = models.CharField(_("requested by"), max_length=150)
    created_at = models.DateTimeField(_("queued at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Counters are incremented with F() by every chunk, so concurrent chunks never lose
    # an update.
    selected_count = models.PositiveIntegerField(_("selected"), default=0)
    processed_count = models.PositiveIntegerField(_("processed"), default=0)
    succeeded_count = models.PositiveIntegerField(_("succeeded"), default=0)
    not_processed_count = models.PositiveIntegerField(_("not processed"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    chunk_count = models.PositiveIntegerField(_("chunks"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks done"), default=0)
    chunks_failed = models.PositiveIntegerField(_("chunks failed"), default=0)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    error_message = models.TextField(_("error"), blank=True)
    # When a worker last recorded work for the run (planning, a chunk's round): the
    # watchdog dispatches a run again after BATCH_STALL_SECONDS without progress.
    last_progress_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    # How often its unfinished work was dispatched again (by the watchdog or by hand).
    redispatch_count = models.PositiveIntegerField(_("dispatched again"), default=0)
    redispatched_at = models.DateTimeField(_("last dispatched again"), null=True, blank=True)
    # The money audit made when a payment run finished (its findings are on the run page).
    money_audit = models.ForeignKey(
        "continuity.MoneyAudit",
        verbose_name=_("money audit"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("batch run")
        verbose_name_plural = _("batch runs")
        ordering = ["-id"]

    def __str__(self):
        return f"{self.get_job_display()} #{self.pk}"


class BatchChunk(models.Model):
    """A slice of a run's work, done by one task. Done once: a chunk delivered again (a
    worker died before acknowledging it) finds itself done, or does what is left."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        # Raised an error that is not worth retrying; dispatched again only by hand.
        FAILED = "failed", _("Failed")

    run = models.ForeignKey(
        BatchRun, verbose_name=_("batch run"), on_delete=models.CASCADE, related_name="chunks"
    )
    number = models.PositiveIntegerField(_("chunk"))
    # Occurrence ids, grouped: one group becomes one child order (several shipments when
    # the program consolidates); for payments every group is one shipment.
    groups = models.JSONField(_("occurrences"))
    # The groups still to do, written with the work of each round (None: not started).
    # A chunk delivered again does only these, so nothing is done or counted twice.
    remaining = models.JSONField(_("still to do"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.PENDING
    )
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("batch chunk")
        verbose_name_plural = _("batch chunks")
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="batch_chunk_number_unique")
        ]

    def __str__(self):
        return f"{self.run_id}/{self.number}"

    @property
    def groups_to_do(self) -> list[list[int]]:
        return self.groups if self.remaining is None else self.remaining


class BatchRunProblem(models.Model):
    """Why one occurrence was not processed by a run."""

    run = models.ForeignKey(
        BatchRun, verbose_name=_("batch run"), on_delete=models.CASCADE, related_name="problems"
    )
    occurrence = models.ForeignKey(
        "continuity.Occurrence",
        verbose_name=_("occurrence"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reason = models.CharField(_("reason"), max_length=32, choices=ShipmentProblem.choices)
    detail = models.TextField(_("detail"), blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("batch run problem")
        verbose_name_plural = _("batch run problems")
        ordering = ["run", "id"]
        indexes = [models.Index(fields=["run", "reason"], name="batch_problem_reason_idx")]

    def __str__(self):
        return f"{self.run_id}: {self.reason}"
