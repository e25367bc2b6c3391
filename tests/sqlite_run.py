"""`make run`'s SQLite, for tests of what only it does: a fresh database migrated in a
folder of the test's, and the way to run manage.py commands on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sqlite_migrated(folder: Path) -> tuple[list[str], dict]:
    """(the manage.py command, its environment) on a new SQLite database in `folder`,
    migrated; the broker in memory, the gateway's ledger in the same database."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'run.sqlite3'}",
        "CELERY_BROKER_URL": "memory://",
        "DEBUG": "true",
    }
    env.pop("GATEWAY_DATABASE_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v0"], env=env, check=True, cwd=ROOT)
    return manage, env
