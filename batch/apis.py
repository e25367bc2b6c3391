"""Batch run endpoints (supervisors): start a run, watch it, list runs. The run itself is
carried out by the Celery workers; starting one answers 202 with the queued run."""

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from batch.jobs import job_for
from batch.models import BatchChunk
from batch.selectors import (
    batch_run_get,
    batch_run_list,
    batch_run_problem_counts,
)
from batch.serializers import (
    BatchRunCreateSerializer,
    BatchRunDetailSerializer,
    BatchRunSerializer,
)
from batch.services import batch_run_request
from batch.tasks import batch_run_enqueue, batch_run_resume
from core.actors import Actor
from core.rest import (
    CanSupervise,
    PageQuerySerializer,
    error_responses,
    page_of,
    paginated_response,
)


class BatchRunListApi(APIView):
    permission_classes = [IsAuthenticated, CanSupervise]

    @extend_schema(
        operation_id="batch_run_list",
        summary="List batch runs",
        description="Newest first.",
        tags=["batch runs"],
        parameters=[PageQuerySerializer],
        responses={200: page_of(BatchRunSerializer), **error_responses(400)},
    )
    def get(self, request):
        return paginated_response(request, self, batch_run_list(limit=None), BatchRunSerializer)


class BatchRunStartApi(APIView):
    permission_classes = [IsAuthenticated, CanSupervise]

    @extend_schema(
        operation_id="batch_run_start",
        summary="Start a batch run",
        description="Start a run of one of the batch jobs (`job`), optionally for one "
        "continuity item and one parent order, for a run date (default today), or as a dry "
        "run. Answers 202 with the queued run; follow it with GET /batch-runs/{id}/.",
        tags=["batch runs"],
        request=BatchRunCreateSerializer,
        responses={
            202: BatchRunSerializer,
            **error_responses(
                400,
                refused_when="no continuity item or parent order has the number given "
                "(error.fields.item_number, error.fields.sales_order)",
            ),
        },
    )
    def post(self, request):
        data = BatchRunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        parameters = data.validated_data
        # The run and its dispatch commit together: the task is sent once the row exists.
        with transaction.atomic():
            run = batch_run_request(
                job=parameters["job"],
                actor=Actor.of_user(request.user),
                item_number=parameters["item_number"],
                order_number=parameters["sales_order"],
                run_date=parameters.get("run_date"),
                dry_run=parameters["dry_run"],
            )
            batch_run_enqueue(run)
        run = batch_run_get(run_id=run.pk)
        return Response(BatchRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class BatchRunsApi(BatchRunListApi, BatchRunStartApi):
    """/batch-runs/: GET lists (BatchRunListApi), POST starts (BatchRunStartApi). One URL
    takes one view in Django, so this class only joins the two operations' views."""


class BatchRunDetailApi(APIView):
    permission_classes = [IsAuthenticated, CanSupervise]

    @extend_schema(
        operation_id="batch_run_get",
        summary="Get a batch run",
        description="Its status and live counters, the summary line, the shipments not "
        "processed by reason, and the child orders it created.",
        tags=["batch runs"],
        parameters=[OpenApiParameter("run_id", int, OpenApiParameter.PATH)],
        responses={200: BatchRunDetailSerializer, **error_responses(404)},
    )
    def get(self, request, run_id):
        run = batch_run_get(run_id=run_id)
        run.problem_counts = batch_run_problem_counts(run)
        run.child_orders = [order.number for order in job_for(run.job).child_orders(run)]
        run.failed_chunks = list(
            run.chunks.filter(status=BatchChunk.Status.FAILED)
            .order_by("number")
            .values("number", "error")
        )
        return Response(BatchRunDetailSerializer(run).data)


class BatchRunResumeApi(APIView):
    permission_classes = [IsAuthenticated, CanSupervise]

    @extend_schema(
        operation_id="batch_run_resume",
        summary="Resume a batch run",
        description="Dispatch the run's unfinished chunks again (failed ones included), as "
        "the watchdog does for a run without progress for BATCH_STALL_SECONDS. Safe: a "
        "chunk does only what is left. 409 for a run that finished well or a dry run.",
        tags=["batch runs"],
        request=None,
        parameters=[OpenApiParameter("run_id", int, OpenApiParameter.PATH)],
        responses={202: BatchRunSerializer, **error_responses(404, 409)},
    )
    def post(self, request, run_id):
        run = batch_run_get(run_id=run_id)
        with transaction.atomic():
            batch_run_resume(run.pk, actor=Actor.of_user(request.user))
        run.refresh_from_db()
        return Response(BatchRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
