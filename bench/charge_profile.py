"""Where a payment chunk's time goes: one process, the job's own `process()` on real chunks,
the gateway simulator at PAYMENT_GATEWAY_LATENCY_MS (default 100) with its thread pool.

    DATABASE_URL=postgres://... .venv/bin/python bench/charge_profile.py [--count 2000]
        [--chunks 2] [--profile FILE] [--chunk-size 500]

The database named by DATABASE_URL is dropped and created again (never point it at one
you keep). Prints, for each chunk: wall time, this process's CPU time (its main thread
and its gateway threads together), PostgreSQL's CPU time (every backend, from /proc: every
client of the server counts, so it means something on an otherwise idle machine only),
the time the chunk's thread spent preparing, waiting on the gateway and recording, and
with --profile a cProfile of the chunk's thread (the gateway threads are not in it).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import os
import pstats
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _postgres_cpu_seconds() -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() not in ("postgres", "postmaster"):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total / ticks


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--chunks", type=int, default=2, help="chunks to time (default 2)")
    parser.add_argument("--profile", help="write the cProfile of the timed chunks here")
    parser.add_argument("--chunk-size", type=int, default=500)
    arguments = parser.parse_args()
    os.environ.setdefault("PAYMENT_GATEWAY_LATENCY_MS", "100")
    os.environ["BATCH_CHUNK_SIZE"] = str(arguments.chunk_size)
    os.environ["GATEWAY_DATABASE_URL"] = os.environ["DATABASE_URL"]
    os.environ["DEBUG"] = "false"
    os.environ["DEVDATA_ENABLED"] = "true"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import dj_database_url

    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    import psycopg2

    admin = psycopg2.connect(dbname="postgres", user=config["USER"], host=config["HOST"])
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{config["NAME"]}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{config["NAME"]}"')
    admin.close()
    for command in (
        ["migrate", "--no-input", "-v", "0"],
        ["load_demo_data", "--allow-in-production"],
    ):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, check=True, stdout=subprocess.DEVNULL
        )
    import django

    django.setup()
    from django.db import connection

    import batch.jobs.payments as payments_job
    from batch.models import BatchChunk, BatchJob, BatchRun
    from batch.services import batch_chunk_execute, batch_run_plan, batch_run_request
    from core.actors import Actor
    from core.dates import business_date
    from devdata.continuity_load.generate import continuity_load_generate

    load = continuity_load_generate(
        count=arguments.count, start_date=business_date() - datetime.timedelta(days=31)
    )
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
        cursor.execute("ANALYZE")
    run = batch_run_request(
        job=BatchJob.PROCESS_PAYMENTS, actor=Actor.job("profile"), run_date=load.payment_run_date
    )
    started = time.perf_counter()
    numbers = batch_run_plan(run_id=run.pk)
    print(f"planned {len(numbers)} chunks in {time.perf_counter() - started:.2f} s")

    # Phase timers around the job's own steps, in the chunk's thread.
    phases: dict[str, float] = {}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            if threading.current_thread() is not threading.main_thread():
                return function(*args, **kwargs)  # the pools' own waits
            begun = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - begun

        return wrapper

    for name in ("charges_prepare", "charges_record"):
        setattr(payments_job, name, timed(name, getattr(payments_job, name)))
    import concurrent.futures

    original_result = concurrent.futures.Future.result
    concurrent.futures.Future.result = timed("gateway wait", original_result)

    profiler = cProfile.Profile() if arguments.profile else None
    # The first chunk warms the gateway pool's threads and connections.
    for index, number in enumerate(numbers[: arguments.chunks + 1]):
        phases.clear()
        cpu, pg, begun = _self_cpu(), _postgres_cpu_seconds(), time.perf_counter()
        if profiler and index:
            profiler.enable()
        batch_chunk_execute(run_id=run.pk, chunk_number=number)
        if profiler and index:
            profiler.disable()
        wall = time.perf_counter() - begun
        chunk = BatchChunk.objects.get(run=run, number=number)
        size = sum(len(group) for group in chunk.groups)
        print(
            f"chunk {number} ({size} charges{', warm-up' if not index else ''}): "
            f"wall {wall:.2f} s = {size / wall:.0f} charges/s; worker CPU "
            f"{_self_cpu() - cpu:.2f} s; PostgreSQL CPU {_postgres_cpu_seconds() - pg:.2f} s; "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items())
        )
    concurrent.futures.Future.result = original_result
    run = BatchRun.objects.get(pk=run.pk)
    print(f"run processed {run.processed_count}, succeeded {run.succeeded_count}")
    if profiler:
        profiler.dump_stats(arguments.profile)
        stats = pstats.Stats(arguments.profile)
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
