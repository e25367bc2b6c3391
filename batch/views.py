from django.contrib import messages
from django.db import transaction
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from batch.forms import BatchRunForm
from batch.jobs import job_for, job_is_registered
from batch.models import (
    FINISHED_RUN_STATUSES,
    BatchChunk,
    BatchRun,
)
from batch.presenters import batch_run_summary_line
from batch.selectors import (
    batch_run_get,
    batch_run_list_page,
    batch_run_problem_counts,
)
from batch.services import batch_run_can_resume, batch_run_request
from batch.tasks import batch_run_enqueue, batch_run_resume
from continuity.money_audit import finding_label
from core.actors import Actor
from core.errors import Conflict
from core.forms import form_service_call
from core.roles import can_supervise, role_required


@require_http_methods(["GET", "POST"])
@role_required(can_supervise)
def batch_run_new(request, job):
    if not job_is_registered(job):
        raise Http404
    form = BatchRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        run = form_service_call(
            form,
            batch_run_request,
            job=job,
            actor=Actor.of_user(request.user),
            item_number=form.cleaned_data["item_number"],
            order_number=form.cleaned_data["sales_order"],
            run_date=form.cleaned_data["run_date"],
            dry_run=form.cleaned_data["dry_run"],
        )
        if run is not None:
            batch_run_enqueue(run)
            return redirect("batch:run", run_id=run.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "batch/new.html",
        {"form": form, "job": job, "job_label": job_for(job).label},
        status=status,
    )


@require_GET
@role_required(can_supervise)
def batch_run_history(request):
    return render(request, "batch/history.html", {"runs": batch_run_list_page()})


def _progress(run: BatchRun) -> dict:
    total = run.selected_count
    percent = 100 if run.finished_at else (int(100 * run.processed_count / total) if total else 0)
    return {
        "status": run.status,
        "status_label": run.get_status_display(),
        "finished": run.status in FINISHED_RUN_STATUSES,
        "selected": total,
        "processed": run.processed_count,
        "percent": percent,
        "summary": batch_run_summary_line(run),
    }


@require_GET
@role_required(can_supervise)
def batch_run_detail(request, run_id):
    try:
        run = batch_run_get(run_id=run_id)
    except BatchRun.DoesNotExist:
        raise Http404 from None
    progress = _progress(run)
    context = {
        "run": run,
        "progress": progress,
        "problem_counts": batch_run_problem_counts(run),
        "problems": run.problems.select_related(
            "occurrence__subscription__parent_order", "occurrence__subscription__customer"
        )[:50],
        "child_orders": job_for(run.job).child_orders(run),
        "failed_chunks": run.chunks.filter(status=BatchChunk.Status.FAILED).order_by("number"),
        "can_resume": batch_run_can_resume(run),
        "findings": [
            {**finding, "label": finding_label(finding["kind"])}
            for finding in (run.money_audit.findings if run.money_audit else [])
        ],
    }
    return render(request, "batch/run.html", context)


@require_POST
@role_required(can_supervise)
def batch_run_resume_view(request, run_id):
    """A supervisor dispatches a run's unfinished chunks again (what the watchdog does
    after BATCH_STALL_SECONDS without progress)."""
    if not BatchRun.objects.filter(pk=run_id).exists():
        raise Http404
    try:
        with transaction.atomic():
            batch_run_resume(run_id, actor=Actor.of_user(request.user))
    except Conflict as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The run's unfinished work was dispatched again."))
    return redirect("batch:run", run_id=run_id)


@require_GET
@role_required(can_supervise)
def batch_run_progress(request, run_id):
    try:
        run = batch_run_get(run_id=run_id)
    except BatchRun.DoesNotExist:
        raise Http404 from None
    return JsonResponse(_progress(run))
