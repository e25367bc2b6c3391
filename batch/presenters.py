"""How a run is told to people: the one-line summary of the run page and the commands."""

from django.utils.translation import gettext as _

from batch.jobs import job_for
from batch.models import UNFINISHED_RUN_STATUSES, BatchRun, BatchRunStatus


def batch_run_summary_line(run: BatchRun) -> str:
    if run.status == BatchRunStatus.FAILED:
        return _("The run failed: %(error)s") % {"error": run.error_message}
    if run.status in UNFINISHED_RUN_STATUSES:
        # "Label: number" sentences read right for any count, in English and in French.
        return _("Running. Shipments processed: %(done)d of %(total)d.") % {
            "done": run.processed_count,
            "total": run.selected_count,
        }
    return job_for(run.job).summary_line(run)
