"""Batch jobs benchmark: `make bench-batch` (part of `make bench`).

On a dedicated PostgreSQL database (BENCH_BATCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/continuity_bench_batch, recreated for every
measurement from a template migrated once per run, with the demo data) and a dedicated
Redis database (BENCH_BATCH_BROKER_URL, default redis://127.0.0.1:6379/11, emptied first),
it measures the two batch jobs as production runs them: ONE real Celery worker
(`celery -A config worker -Q batch --concurrency=2`, the default prefork pool
sized to this machine's two cores) started by the benchmark, the run requested through
batch.services.batch_run_request and handed to the `batch.run` task, which plans it and
enqueues its chunks for the worker's two processes.

1. Create continuity child orders at two sizes (default 25,000 and 100,000 paid shipments
   due on the run date, made by `generate_continuity_load`): child orders per second from
   dispatch to the run's finished_at, and the worker's peak memory (VmRSS of every process
   of the worker's tree, read from /proc every 100 ms: the highest total and the highest
   single process), to show how it grows with the count.
2. Process continuity payments with the simulator at 100 ms a gateway call
   (PAYMENT_GATEWAY_LATENCY_MS=100 in the worker's environment): charges per second, on
   10,000 due shipments, against 0.7 of what the worker's processes can have at the
   gateway (2 processes x PAYMENT_GATEWAY_CONCURRENCY 32 / 0.1 s = 640, so 448).
3. PostgreSQL's own COPY rate for the rows the largest child-order run wrote: the same
   orders and lines, copied out and COPYed into scratch tables shaped like
   orders_salesorder / orders_salesorderline (same columns, indexes and checks, with and
   without the same foreign keys), commit included, and its ratio to our rate.

With `--workers N`, N worker nodes (`-n benchK-<pid>@%h`, each --concurrency=2) share the
broker and the batch queue: the child-order runs use them all (checked for loss: every
shipment has exactly one child order), and the payment job is measured with one worker,
then with N, against N x 0.9 times one worker's rate (x1.8 for two).

Each run's result is checked (every shipment has its order, lines and audit entries; every
charge is approved once) before its rate counts. Prints one table; exits 1 when a target
is missed, 2 when a run went wrong.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/continuity_bench_batch"
# Not 13 or 15: the reliability tests and `make test` use those.
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/11"
# The celery of the virtualenv this runs in (`make bench-batch` runs $(VENV)/bin/python).
CELERY = Path(sys.executable).parent / "celery"
WORKER_CONCURRENCY = 2  # the machine's two cores
SAMPLE_SECONDS = 0.1
STARTING_LOAD = 0.0  # the machine's 1-minute load average when the benchmark began
RUN_TIMEOUT_SECONDS = 1800

# At the largest speed run (100,000 shipments), one worker:
TARGET_CHILD_ORDERS_PER_SECOND = 8_000
# ... and this share of PostgreSQL's COPY rate for the same order and line rows.
TARGET_SHARE_OF_COPY = 0.45
# At least this many charges a second with one worker at 100 ms ...
TARGET_CHARGES_PER_SECOND = 450
# ... and this share of what its processes can have at the gateway at once:
# 0.7 x 2 processes x 32 calls / 0.1 s = 448 at the defaults.
TARGET_SHARE_OF_GATEWAY_CEILING = 0.7
# N workers on the same broker: at least 0.9 x N times one worker's charges a second.
TARGET_SCALE_OUT_PER_WORKER = 0.9
# At the largest memory run (1,000,000 shipments): the worker's processes together, as
# Pss (each shared page divided among its sharers: what the pool really takes) ...
TARGET_PEAK_MEMORY_MB = 250
# ... and four times the shipments may cost at most this much more of it.
TARGET_MEMORY_GROWTH = 1.1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="25000,100000",
        help="paid shipments of each child-order run, comma-separated (default 25000,100000)",
    )
    parser.add_argument(
        "--memory-sizes",
        default="250000,1000000",
        help="due shipments of each memory run (prepaid catch-up load), comma-separated "
        "(default 250000,1000000; empty: none)",
    )
    parser.add_argument(
        "--payments", type=int, default=10_000, help="shipments charged (default 10,000)"
    )
    parser.add_argument(
        "--latency-ms", type=int, default=100, help="simulated gateway latency (default 100)"
    )
    parser.add_argument(
        "--skip-payments", action="store_true", help="measure the child-order job only"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker nodes on the same broker, each with its own host name (default 1); "
        "above 1, the child-order runs use them all and the payment job is measured with "
        "one worker, then with all of them",
    )
    return parser.parse_args()


def configure_environment() -> tuple[str, str]:
    """Point the settings at the benchmark database and broker before Django starts."""
    url = os.environ.get("BENCH_BATCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    broker = os.environ.get("BENCH_BATCH_BROKER_URL", DEFAULT_BROKER_URL)
    os.environ["DATABASE_URL"] = url
    os.environ["GATEWAY_DATABASE_URL"] = url
    os.environ["CELERY_BROKER_URL"] = broker
    os.environ["DEBUG"] = "false"  # DEBUG would record every query in memory
    # The demo data and the generators (the devdata app) are installed on demand only.
    os.environ["DEVDATA_ENABLED"] = "true"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-not-for-production-0123456789")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    return url, broker


# --- Databases ----------------------------------------------------------------------------


class Databases:
    """The benchmark database, recreated for each measurement from a template that is
    migrated (with the demo data) once per run: a clone takes a second, a migration more."""

    def __init__(self, url: str):
        import dj_database_url

        self.config = dj_database_url.parse(url)
        if self.config["ENGINE"] != "django.db.backends.postgresql":
            sys.exit(f"BENCH_BATCH_DATABASE_URL must be PostgreSQL, not {self.config['ENGINE']}.")
        self.url = url
        self.name = self.config["NAME"]
        self.template = f"{self.name}_template"

    def _admin(self, *statements) -> None:
        import psycopg2
        from psycopg2 import sql

        connection = psycopg2.connect(
            dbname="postgres",
            user=self.config["USER"],
            password=self.config["PASSWORD"],
            host=self.config["HOST"],
            port=self.config["PORT"],
        )
        connection.autocommit = True
        with connection.cursor() as cursor:
            for statement, *names in statements:
                cursor.execute(sql.SQL(statement).format(*map(sql.Identifier, names)))
        connection.close()

    def prepare_template(self) -> None:
        print(f"Migrating the template database {self.template} ...", flush=True)
        self._admin(
            ("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.template),
            ("CREATE DATABASE {}", self.template),
        )
        template_url = urlsplit(self.url)._replace(path=f"/{self.template}").geturl()
        environment = {
            **os.environ,
            "DATABASE_URL": template_url,
            "GATEWAY_DATABASE_URL": template_url,
        }
        # DEBUG is off for the measurement, not because this is a production database.
        demo_data = ["load_demo_data", "--allow-in-production"]
        for command in (["migrate", "--no-input", "-v", "0"], demo_data):
            subprocess.run(
                [sys.executable, "manage.py", *command],
                cwd=ROOT,
                env=environment,
                check=True,
                stdout=subprocess.DEVNULL,
            )

    def recreate(self) -> None:
        from django.db import connections

        connections.close_all()
        self._admin(
            ("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ("CREATE DATABASE {} TEMPLATE {}", self.name, self.template),
        )

    def drop_template(self) -> None:
        self._admin(("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.template))


# --- The worker and its memory ---------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        found = []
        for task in tasks:
            text = (task / "children").read_text()
            found += [int(child) for child in text.split()]
        return found
    except (FileNotFoundError, ProcessLookupError):
        return []


def _memory_kb(pid: int) -> tuple[int, int]:
    """(Rss, Pss) of a process in KiB. Rss counts every page the process maps, those it
    shares with its parent and siblings included, so summing it over a prefork pool
    counts the shared pages once per process; Pss divides each shared page among the
    processes that share it, so summed it is the memory the pool really takes."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return rss, pss


def _cpu_seconds(root: int) -> float:
    """CPU time (user + system) of a process and its descendants, those already ended
    included: each live process's own time plus what it reaped of its children's."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        todo += _children(pid)
    return total / ticks


def _postmaster_pid() -> int:
    """The PostgreSQL server's main process (the parent of our backend), on this machine."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    for line in Path(f"/proc/{backend}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise RunFailed("the PostgreSQL server is not on this machine: no CPU figures")


@dataclass
class MemorySampler:
    """Rss and Pss of processes (the workers) and all their descendants every 100 ms,
    in a thread."""

    pids: list[int]
    peak_total_kb: int = 0
    peak_process_kb: int = 0
    peak_pss_kb: int = 0
    samples: int = 0
    processes: set[int] = field(default_factory=set)

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> int:
        pids, todo = [], list(self.pids)
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo += _children(pid)
        sizes = [_memory_kb(pid) for pid in pids]
        rss = [size[0] for size in sizes]
        self.processes.update(pids)
        self.peak_total_kb = max(self.peak_total_kb, sum(rss))
        self.peak_process_kb = max(self.peak_process_kb, *rss)
        self.peak_pss_kb = max(self.peak_pss_kb, sum(size[1] for size in sizes))
        self.samples += 1
        return sum(rss)

    def _loop(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(SAMPLE_SECONDS)

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Worker:
    """One Celery worker with its prefork pool, as `make worker` starts it."""

    def __init__(self, *, broker: str, latency_ms: int, log: Path, number: int = 1):
        # Each worker node its own name, as on its own host: bench1@host, bench2@host ...
        self.name = f"bench{number}-{os.getpid()}@%h"
        self.command = [
            str(CELERY),
            "-A",
            "config",
            "worker",
            "-Q",
            # The batch queue only: the jobs' own work. The emails they owe (written in
            # their transactions, counted here) are sent from the notifications queue.
            "batch",
            f"--concurrency={WORKER_CONCURRENCY}",
            "--pool=prefork",
            "--loglevel=WARNING",
            "-n",
            self.name,
        ]
        self.environment = {
            **os.environ,
            "CELERY_BROKER_URL": broker,
            "PAYMENT_GATEWAY_LATENCY_MS": str(latency_ms),
        }
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        from config.celery import app

        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: stopping it never touches anything else.
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        hostname = self.name.replace("%h", os.uname().nodename)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(
                    f"The worker exited at start-up (code {self.process.returncode}); "
                    f"see {self.log}."
                )
            replies = app.control.ping(destination=[hostname], timeout=0.5)
            if replies and len(_children(self.process.pid)) >= WORKER_CONCURRENCY:
                return self
        self.stop()
        sys.exit(f"The worker did not answer within 60 s; see {self.log}.")

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # warm shutdown
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def workers_start(count: int, *, broker: str, latency_ms: int, log: Path) -> list[Worker]:
    """`count` worker nodes on the same broker and queue, started one after the other."""
    workers: list[Worker] = []
    try:
        for number in range(1, count + 1):
            workers.append(
                Worker(broker=broker, latency_ms=latency_ms, log=log, number=number).start()
            )
    except BaseException:
        workers_stop(workers)
        raise
    return workers


def workers_stop(workers: list[Worker]) -> None:
    for worker in workers:
        worker.stop()


# --- Runs -----------------------------------------------------------------------------------


@dataclass
class RunMeasure:
    job: str
    label: str
    size: int
    done: int
    seconds: float  # dispatch to the run's finished_at
    job_seconds: float  # the run's started_at to finished_at
    polled_seconds: float  # dispatch to the poll that saw it finished (our clock)
    idle_total_kb: int
    peak_total_kb: int
    peak_process_kb: int
    idle_pss_kb: int
    peak_pss_kb: int
    processes: int
    load_average: float  # of the machine, over the minute the run ended
    rows_written: int = 0  # orders + lines, for the child-order run
    run_id: int = 0
    workers: int = 1
    wal_bytes: int = 0  # the server's WAL from dispatch to the end (every client counted)
    worker_cpu_seconds: float = 0.0  # the workers' processes, the simulator's threads in them
    postgres_cpu_seconds: float = 0.0  # every process of the server (every client counted)

    @property
    def rate(self) -> float:
        return self.done / self.seconds


class RunFailed(Exception):
    pass


def _generate(count: int, start_date: datetime.date, item_number: str = "88000"):
    from django.db import connection

    from devdata.continuity_load.generate import continuity_load_generate

    started = time.perf_counter()
    result = continuity_load_generate(count=count, start_date=start_date, item_number=item_number)
    with connection.cursor() as cursor:
        # The load's dirty pages are written now, not by a checkpoint during the run.
        cursor.execute("CHECKPOINT")
    print(
        f"  generated {count:,} subscriptions ({result.rows:,} rows) in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return result


def _run_job(*, job: str, run_date: datetime.date, workers: list[Worker]) -> tuple:
    """Request the run, hand it to the worker and wait for it; returns (run, measures)."""
    from django.utils import timezone

    from batch.models import BatchRunStatus
    from batch.services import batch_run_request
    from batch.tasks import run_batch
    from core.actors import Actor

    # The idle worker first: what the run adds is the difference.
    pids = [worker.pid for worker in workers]
    idle = MemorySampler(pids)
    for _ in range(10):
        idle.sample()
        time.sleep(SAMPLE_SECONDS)
    sampler = MemorySampler(pids).start()
    wal_start = _wal_position()
    postmaster = _postmaster_pid()
    cpu_start = [_cpu_seconds(pid) for pid in pids], _cpu_seconds(postmaster)
    run = batch_run_request(job=job, actor=Actor.job("bench"), run_date=run_date)
    dispatched_at = timezone.now()
    started = time.perf_counter()
    run_batch.delay(run.pk)
    finished_states = {
        BatchRunStatus.SUCCEEDED,
        BatchRunStatus.FINISHED_WITH_PROBLEMS,
        BatchRunStatus.FAILED,
    }
    last_report = started
    while True:
        time.sleep(SAMPLE_SECONDS)
        run.refresh_from_db()
        now = time.perf_counter()
        if run.status in finished_states:
            break
        for worker in workers:
            if worker.process.poll() is not None:
                raise RunFailed(f"a worker died (code {worker.process.returncode})")
        if now - started > RUN_TIMEOUT_SECONDS:
            raise RunFailed(f"not finished after {RUN_TIMEOUT_SECONDS} s")
        if now - last_report >= 5:
            print(
                f"    {now - started:6.1f} s  chunks {run.chunks_done}/{run.chunk_count}  "
                f"processed {run.processed_count:,}",
                flush=True,
            )
            last_report = now
    polled = time.perf_counter() - started
    sampler.stop()
    wal_bytes = _wal_since(wal_start)
    worker_cpu = sum(_cpu_seconds(pid) for pid in pids) - sum(cpu_start[0])
    postgres_cpu = _cpu_seconds(postmaster) - cpu_start[1]
    if run.status != BatchRunStatus.SUCCEEDED:
        raise RunFailed(f"run #{run.pk} ended {run.status}: {run.error_message or run.summary}")
    return run, dict(
        seconds=(run.finished_at - dispatched_at).total_seconds(),
        job_seconds=(run.finished_at - run.started_at).total_seconds(),
        polled_seconds=polled,
        idle_total_kb=idle.peak_total_kb,
        peak_total_kb=sampler.peak_total_kb,
        peak_process_kb=sampler.peak_process_kb,
        idle_pss_kb=idle.peak_pss_kb,
        peak_pss_kb=sampler.peak_pss_kb,
        processes=len(sampler.processes),
        load_average=os.getloadavg()[0],
        wal_bytes=wal_bytes,
        worker_cpu_seconds=worker_cpu,
        postgres_cpu_seconds=postgres_cpu,
    )


def _wal_position() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        return cursor.fetchone()[0]


def _wal_since(position: str) -> int:
    """Bytes of WAL the server wrote since `position`: what a run costs the disk, read
    on an otherwise idle server (every client's writes count)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)::bigint", [position])
        return cursor.fetchone()[0]


def _analyze() -> None:
    """Fresh statistics after a run changed most rows, for the checks below (and the
    COPY): the planner otherwise joins 100,000 rows as if they were a handful."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# The memory runs' load: the demo's prepaid tea club (88001, three monthly shipments paid
# at the sale), sold this many days before today, so that all three shipments of every
# subscription are due on today's run (a catch-up run). A million due shipments are then
# 333,333 subscriptions (and one monthly subscription for the millionth): a fifth of the
# rows, and of the minutes, of a million monthly subscriptions with one shipment due each.
PREPAID_ITEM, PREPAID_SHIPMENTS, PREPAID_SOLD_DAYS_AGO = "88001", 3, 75


def measure_child_orders(
    size: int,
    *,
    databases: Databases,
    broker: str,
    log: Path,
    today: datetime.date,
    prepaid: bool = False,
    workers: int = 1,
) -> RunMeasure:
    from django.db.models import Count

    from batch.models import BatchJob
    from continuity.models import ContinuityParameters, Occurrence, OccurrenceLine
    from core.limits import CHILD_ORDERS_PER_RUN_MAX
    from core.models import AuditEntry, OutboxEvent
    from orders.models import SalesOrder, SalesOrderLine

    shape = " (prepaid program, 3 due per subscription)" if prepaid else ""
    print(
        f"Create continuity child orders, {size:,} paid shipments due{shape}, "
        f"{_workers_text(workers)}:",
        flush=True,
    )
    databases.recreate()
    if prepaid:
        subscriptions, rest = divmod(size, PREPAID_SHIPMENTS)
        _generate(
            subscriptions,
            today - datetime.timedelta(days=PREPAID_SOLD_DAYS_AGO),
            item_number=PREPAID_ITEM,
        )
        if rest:
            # The count exactly (a million is not a multiple of three, and the run's cap
            # is a million): a few monthly subscriptions sold today, one shipment due each.
            _generate(rest, today)
        run_date = today
        size = Occurrence.objects.filter(status="paid", child_order__isnull=True).count()
    else:
        run_date = _generate(size, today).child_order_run_date
    # One run takes them all (the default cap is 100,000 child orders a run).
    ContinuityParameters.objects.update(max_child_orders_per_run=CHILD_ORDERS_PER_RUN_MAX)
    nodes = workers_start(workers, broker=broker, latency_ms=0, log=log)
    try:
        run, measures = _run_job(job=BatchJob.CREATE_CHILD_ORDERS, run_date=run_date, workers=nodes)
    finally:
        workers_stop(nodes)
    _analyze()
    source = f"batch-run:{run.pk}"
    label = f"{run.job} run #{run.pk}"
    lines = SalesOrderLine.objects.filter(order__source_reference=source).count()
    expected_lines = OccurrenceLine.objects.filter(occurrence__status="child_created").count()
    checks = {
        "created": run.summary.get("created"),
        "child orders": SalesOrder.objects.filter(source_reference=source).count(),
        "shipments child_created": Occurrence.objects.filter(status="child_created").count(),
    }
    # Per child order: its creation, its release (at creation, the default) and its
    # shipment's child_created, each an audit entry with its outbound event (core.outbox).
    # (A prepaid subscription whose last shipment is ordered also completes: not counted.)
    entries = AuditEntry.objects.filter(actor_label=label)
    for name, kind in (
        ("created", dict(action="order_created")),
        ("released", dict(object_type="orders.salesorder", to_status="released")),
        ("shipment", dict(object_type="continuity.occurrence", to_status="child_created")),
    ):
        checks[f"{name} entries"] = entries.filter(**kind).count()
        checks[f"{name} events"] = OutboxEvent.objects.filter(
            audit_entry_id__in=entries.filter(**kind).values("id")
        ).count()
    if set(checks.values()) != {size} or run.error_count or lines != expected_lines:
        raise RunFailed(
            f"run #{run.pk} did not do all the work: {checks}, {run.error_count} errors, "
            f"{lines} order lines for {expected_lines} shipment lines"
        )
    # No loss and nothing twice: every shipment has exactly one child order.
    per_shipment = set(
        Occurrence.objects.filter(status="child_created")
        .annotate(orders=Count("lines__child_order_line__order", distinct=True))
        .values_list("orders", flat=True)
    )
    without = Occurrence.objects.filter(status="child_created", child_order__isnull=True)
    if per_shipment != {1} or without.exists():
        raise RunFailed(f"run #{run.pk}: child orders per shipment {sorted(per_shipment)}, not 1")
    return RunMeasure(
        job="create child orders",
        label=("create child orders, prepaid" if prepaid else "create child orders")
        + (f", {workers} workers" if workers > 1 else ""),
        size=size,
        done=size,
        rows_written=size + lines,
        run_id=run.pk,
        workers=workers,
        **measures,
    )


def measure_payments(
    size: int,
    *,
    latency_ms: int,
    databases: Databases,
    broker: str,
    log: Path,
    today: datetime.date,
    workers: int = 1,
) -> RunMeasure:
    from batch.models import BatchJob
    from continuity.models import Occurrence
    from payments.gateways.simulator.models import SimulatedTransaction
    from payments.models import Payment

    print(
        f"Process continuity payments, {size:,} shipments due, gateway {latency_ms} ms a call, "
        f"{_workers_text(workers)}:",
        flush=True,
    )
    databases.recreate()
    # Sold a month ago, so that the second shipments are due for payment now: a run date
    # may not be more than BATCH_MAX_DAYS_AHEAD after today, and one in the past (a
    # catch-up run) charges the same.
    load = _generate(size, today - datetime.timedelta(days=31))
    ledger_before = SimulatedTransaction.objects.using("gateway").count()
    nodes = workers_start(workers, broker=broker, latency_ms=latency_ms, log=log)
    try:
        run, measures = _run_job(
            job=BatchJob.PROCESS_PAYMENTS, run_date=load.payment_run_date, workers=nodes
        )
    finally:
        workers_stop(nodes)
    _analyze()
    checks = {
        "paid": run.summary.get("paid"),
        "shipments paid": Occurrence.objects.filter(
            status="paid", sequence=2, payment__status="approved"
        ).count(),
        "approved sales": Payment.objects.filter(
            occurrence__isnull=False, status="approved"
        ).count(),
        "gateway sales": SimulatedTransaction.objects.using("gateway").count() - ledger_before,
    }
    if set(checks.values()) != {size} or run.error_count:
        raise RunFailed(f"run #{run.pk} did not charge every shipment once: {checks}")
    return RunMeasure(
        job="process payments",
        label=f"process payments ({latency_ms} ms gateway)"
        + (f", {workers} workers" if workers > 1 else ""),
        size=size,
        done=size,
        run_id=run.pk,
        workers=workers,
        **measures,
    )


def _workers_text(workers: int) -> str:
    return "one worker" if workers == 1 else f"{workers} workers"


# --- PostgreSQL's own COPY rate -------------------------------------------------------------


@dataclass
class CopyMeasure:
    orders: int
    lines: int
    seconds: float  # into tables with the same indexes, checks and foreign keys
    seconds_without_keys: float  # the same without the foreign keys
    wal_bytes: int = 0  # the server's WAL for the COPY with the foreign keys

    @property
    def rows(self) -> int:
        return self.orders + self.lines

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    @property
    def rate_without_keys(self) -> float:
        return self.rows / self.seconds_without_keys


ORDER_TABLE, LINE_TABLE = "orders_salesorder", "orders_salesorderline"
SCRATCH_ORDERS, SCRATCH_LINES = "bench_copy_salesorder", "bench_copy_salesorderline"


def _copy_into_scratch(orders: str, lines: str, *, foreign_keys: bool) -> tuple[float, int]:
    """COPY the rows into scratch tables shaped like ours (LIKE ... INCLUDING ALL: columns,
    defaults, identity, checks and indexes; with `foreign_keys`, the same foreign keys,
    deferred as Django makes them). Seconds from the first COPY to the commit, and the
    bytes of WAL written meanwhile."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        for scratch, table in ((SCRATCH_ORDERS, ORDER_TABLE), (SCRATCH_LINES, LINE_TABLE)):
            cursor.execute(f"DROP TABLE IF EXISTS {scratch}")
            cursor.execute(f"CREATE TABLE {scratch} (LIKE {table} INCLUDING ALL)")
            if not foreign_keys:
                continue
            cursor.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'f'",
                [table],
            )
            for (definition,) in cursor.fetchall():
                # A line's order is a scratch order; every other reference (customer,
                # parent order, item, occurrence line ...) is the real row.
                if table == LINE_TABLE:
                    definition = definition.replace(
                        f"REFERENCES {ORDER_TABLE}(", f"REFERENCES {SCRATCH_ORDERS}("
                    )
                cursor.execute(f"ALTER TABLE {scratch} ADD {definition}")
        cursor.execute("CHECKPOINT")  # as before each run
    try:
        wal_start = _wal_position()
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {SCRATCH_ORDERS} FROM STDIN", io.StringIO(orders))
            cursor.copy_expert(f"COPY {SCRATCH_LINES} FROM STDIN", io.StringIO(lines))
        return time.perf_counter() - started, _wal_since(wal_start)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH_LINES}, {SCRATCH_ORDERS}")


def measure_copy(run_id: int) -> CopyMeasure:
    """PostgreSQL's own COPY rate for the orders and lines child-order run `run_id` wrote:
    the same rows, read out beforehand (not timed), COPYed into scratch tables of the
    same shape, with and without the foreign keys."""
    from django.db import connection

    source = f"batch-run:{run_id}"
    with connection.cursor() as cursor:
        orders_out, lines_out = io.StringIO(), io.StringIO()
        cursor.copy_expert(
            cursor.mogrify(
                f"COPY (SELECT * FROM {ORDER_TABLE} WHERE source_reference = %s ORDER BY id) "
                "TO STDOUT",
                [source],
            ).decode(),
            orders_out,
        )
        cursor.copy_expert(
            cursor.mogrify(
                f"COPY (SELECT l.* FROM {LINE_TABLE} l JOIN {ORDER_TABLE} o ON o.id = l.order_id "
                "WHERE o.source_reference = %s ORDER BY l.id) TO STDOUT",
                [source],
            ).decode(),
            lines_out,
        )
    orders, lines = orders_out.getvalue(), lines_out.getvalue()
    seconds, wal_bytes = _copy_into_scratch(orders, lines, foreign_keys=True)
    seconds_without_keys, _wal = _copy_into_scratch(orders, lines, foreign_keys=False)
    return CopyMeasure(
        orders=orders.count("\n"),
        lines=lines.count("\n"),
        seconds=seconds,
        seconds_without_keys=seconds_without_keys,
        wal_bytes=wal_bytes,
    )


# --- Report ---------------------------------------------------------------------------------


def _cpu_text(measure: RunMeasure) -> str:
    """CPU per unit of work, and the rate the machine's cores allow at that cost, however
    well the work overlaps: the floor measured in the same run."""
    unit = "child order" if measure.job == "create child orders" else "charge"
    worker = measure.worker_cpu_seconds / measure.done * 1000
    postgres = measure.postgres_cpu_seconds / measure.done * 1000
    cores = os.cpu_count() or 1
    ceiling = cores * 1000 / (worker + postgres) if worker + postgres else 0
    return (
        f"{measure.label}, {measure.size:,}: CPU per {unit} {worker:.2f} ms in the "
        f"worker + {postgres:.2f} ms in PostgreSQL; {cores} cores allow at most "
        f"{ceiling:,.0f}/s at that cost ({measure.rate / ceiling:.2f} of it used)"
    )


def _mb(kb: int) -> str:
    return f"{kb / 1024:,.0f} MB"


def _share(measure: RunMeasure, copy: CopyMeasure) -> float:
    return measure.rows_written / measure.seconds / copy.rate


def charges_target(latency_ms: int) -> float:
    """At least TARGET_CHARGES_PER_SECOND, and 0.7 of what one worker's processes can
    have at the gateway: processes x calls at once (PAYMENT_GATEWAY_CONCURRENCY) / the
    latency of a call."""
    from django.conf import settings

    if latency_ms <= 0:
        return float(TARGET_CHARGES_PER_SECOND)
    ceiling = WORKER_CONCURRENCY * settings.PAYMENT_GATEWAY_CONCURRENCY / (latency_ms / 1000)
    return max(float(TARGET_CHARGES_PER_SECOND), TARGET_SHARE_OF_GATEWAY_CEILING * ceiling)


def report(
    child_runs: list[RunMeasure],
    memory_runs: list[RunMeasure],
    payments: list[RunMeasure],
    copy: CopyMeasure | None,
    *,
    latency_ms: int,
    workers: int,
) -> list[str]:
    """Print the tables; return the targets missed."""
    from django.conf import settings

    print()
    print(
        f"Batch jobs, {datetime.date.today()}, {_workers_text(workers)} (celery prefork, "
        f"--concurrency={WORKER_CONCURRENCY} each) on {os.cpu_count()} cores, "
        f"load average at the start {STARTING_LOAD:.2f}"
    )
    header = (
        f"{'job':<46} {'shipments':>10} {'seconds':>8} {'rate':>16} {'Rss idle':>9} "
        f"{'Rss peak':>9} {'Pss idle':>9} {'Pss peak':>9} {'process':>8} {'load':>5}"
    )
    print(header)
    print("-" * len(header))
    for measure in [*child_runs, *memory_runs, *payments]:
        unit = "orders/s" if measure.job == "create child orders" else "charges/s"
        print(
            f"{measure.label:<46} {measure.size:>10,} {measure.seconds:>8.1f} "
            f"{measure.rate:>7,.0f} {unit:<8} {_mb(measure.idle_total_kb):>9} "
            f"{_mb(measure.peak_total_kb):>9} {_mb(measure.idle_pss_kb):>9} "
            f"{_mb(measure.peak_pss_kb):>9} {_mb(measure.peak_process_kb):>8} "
            f"{measure.load_average:>5.1f}"
        )
    print(
        "  seconds: from dispatch to the run's finished_at; memory: the worker's processes "
        "together, every 100 ms (Rss counts a page each process shares once per process, "
        "Pss divides it among them); process: the largest single Rss; load: the 1-minute "
        "load average at the end"
    )
    print()
    for measure in [*child_runs, *memory_runs]:
        print(
            f"  child orders, {measure.size:,}: job's own time {measure.job_seconds:.1f} s, "
            f"our clock {measure.polled_seconds:.1f} s; {measure.rows_written:,} order + line "
            f"rows = {measure.rows_written / measure.seconds:,.0f} rows/s"
        )
    for measure in [*child_runs, *memory_runs, *payments]:
        print("  " + _cpu_text(measure))
    for measure in payments:
        print(
            f"  payments, {_workers_text(measure.workers)}: job's own time "
            f"{measure.job_seconds:.1f} s, our clock {measure.polled_seconds:.1f} s; "
            f"{measure.processes} worker processes"
        )
    largest = max(child_runs, key=lambda measure: measure.size) if child_runs else None
    if copy and largest:
        print(
            f"  PostgreSQL COPY of the same {copy.orders:,} orders + {copy.lines:,} lines into "
            f"scratch tables of the same shape: {copy.seconds:.1f} s = {copy.rate:,.0f} rows/s "
            f"with the foreign keys ({copy.rate_without_keys:,.0f} rows/s without)"
        )
        # What each side writes to disk: the job's child order is more than its order and
        # lines (its entries, events, email and the shipment's new status).
        print(
            f"  WAL per child order: the job {largest.wal_bytes / largest.size / 1024:.1f} KiB, "
            f"the COPY of its order and lines {copy.wal_bytes / copy.orders / 1024:.1f} KiB"
        )
    # (target, wanted, measured, ratio): the ratio is measured / wanted for a floor and
    # wanted / measured for a ceiling, so that >= 1 is met either way.
    rows: list[tuple[str, str, str, float]] = []
    # The child-order targets are one worker's; with several, their runs are checked for
    # loss only (every shipment has its child order, once).
    if largest and workers == 1:
        rows.append(
            (
                f"child orders/s at {largest.size:,}",
                f">= {TARGET_CHILD_ORDERS_PER_SECOND:,}",
                f"{largest.rate:,.0f}",
                largest.rate / TARGET_CHILD_ORDERS_PER_SECOND,
            )
        )
        if copy:
            share = _share(largest, copy)
            rows.append(
                (
                    "share of COPY with foreign keys",
                    f">= {TARGET_SHARE_OF_COPY:.2f}",
                    f"{share:.2f}",
                    share / TARGET_SHARE_OF_COPY,
                )
            )
    if memory_runs and workers == 1:
        biggest = max(memory_runs, key=lambda measure: measure.size)
        peak = biggest.peak_pss_kb / 1024
        rows.append(
            (
                f"worker Pss peak at {biggest.size:,}",
                f"<= {TARGET_PEAK_MEMORY_MB} MB",
                f"{peak:,.0f} MB",
                TARGET_PEAK_MEMORY_MB / peak,
            )
        )
        smallest = min(memory_runs, key=lambda measure: measure.size)
        if smallest is not biggest:
            growth = biggest.peak_pss_kb / smallest.peak_pss_kb
            rows.append(
                (
                    f"Pss growth, x{biggest.size / smallest.size:.0f} shipments",
                    f"<= x{TARGET_MEMORY_GROWTH}",
                    f"x{growth:.2f}",
                    TARGET_MEMORY_GROWTH / growth,
                )
            )
    target = charges_target(latency_ms)
    one = next((measure for measure in payments if measure.workers == 1), None)
    if one:
        ceiling = WORKER_CONCURRENCY * settings.PAYMENT_GATEWAY_CONCURRENCY / (latency_ms / 1000)
        print(
            f"  charges, one worker: {one.rate:,.0f}/s = {one.rate / ceiling:.2f} of the "
            f"gateway ceiling {ceiling:,.0f}/s ({WORKER_CONCURRENCY} processes x "
            f"{settings.PAYMENT_GATEWAY_CONCURRENCY} calls at once / {latency_ms / 1000:g} s "
            "a call)"
        )
        rows.append(
            (
                f"charges/s, one worker, {latency_ms} ms",
                f">= {target:,.0f}",
                f"{one.rate:,.0f}",
                one.rate / target,
            )
        )
    many = next((measure for measure in payments if measure.workers > 1), None)
    if one and many:
        ratio = many.rate / one.rate
        wanted = TARGET_SCALE_OUT_PER_WORKER * many.workers
        rows.append(
            (
                f"charges, {many.workers} workers / one",
                f">= x{wanted:.1f}",
                f"x{ratio:.2f}",
                ratio / wanted,
            )
        )
    print()
    print(f"{'target':<40} {'wanted':>12} {'measured':>10} {'ratio':>6}  met")
    missed = []
    for name, wanted, measured, ratio in rows:
        met = ratio >= 1
        print(f"{name:<40} {wanted:>12} {measured:>10} {ratio:>6.2f}  {'yes' if met else 'NO'}")
        if not met:
            missed.append(f"{name}: {measured} (wanted {wanted})")
    print("  " + ("all targets met" if not missed else "MISSED: " + "; ".join(missed)))
    return missed


def main() -> int:
    arguments = parse_args()
    if arguments.workers < 1:
        sys.exit("--workers must be at least 1.")
    sizes = sorted(int(size) for size in arguments.sizes.split(",") if size)
    memory_sizes = sorted(int(size) for size in arguments.memory_sizes.split(",") if size)
    if arguments.workers > 1:
        # Several workers are about scale-out and loss; memory is one worker's target.
        memory_sizes = []
    url, broker = configure_environment()
    databases = Databases(url)

    import django

    django.setup()
    import redis

    from core.dates import business_date

    global STARTING_LOAD
    load = STARTING_LOAD = os.getloadavg()[0]
    if load > 1.0:
        print(
            f"Note: the machine is busy (load average {load:.1f} on {os.cpu_count()} cores): "
            "the rates below will be lower than on an idle machine.",
            flush=True,
        )
    log = ROOT / "var" / "bench-batch-worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    # Only our own Redis database: whatever an interrupted run left queued goes.
    redis.Redis.from_url(broker).flushdb()
    today = business_date()
    databases.prepare_template()
    child_runs, memory_runs, payments, copy = [], [], [], None
    try:
        for size in sizes:
            child_runs.append(
                measure_child_orders(
                    size,
                    databases=databases,
                    broker=broker,
                    log=log,
                    today=today,
                    workers=arguments.workers,
                )
            )
            if size == sizes[-1]:
                copy = measure_copy(child_runs[-1].run_id)
        for size in memory_sizes:
            memory_runs.append(
                measure_child_orders(
                    size,
                    databases=databases,
                    broker=broker,
                    log=log,
                    today=today,
                    prepaid=True,
                )
            )
        if not arguments.skip_payments:
            # One worker first; with --workers N, then N workers on the same load.
            for workers in sorted({1, arguments.workers}):
                payments.append(
                    measure_payments(
                        arguments.payments,
                        latency_ms=arguments.latency_ms,
                        databases=databases,
                        broker=broker,
                        log=log,
                        today=today,
                        workers=workers,
                    )
                )
    except RunFailed as failure:
        print(f"The benchmark failed: {failure}. Worker log: {log}", file=sys.stderr)
        return 2
    finally:
        from django.db import connections

        connections.close_all()
        databases.drop_template()
    missed = report(
        child_runs,
        memory_runs,
        payments,
        copy,
        latency_ms=arguments.latency_ms,
        workers=arguments.workers,
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
