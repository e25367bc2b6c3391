"""The money soak: the state machine of test_money_state_machine.py with random seeds,
batch after batch, for SOAK_SECONDS (default 600).

The file name does not match pytest's `test_*.py`, so `make test` never collects it (no
skipped test in the suite); `make soak` names it on the command line.
"""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import Phase
from hypothesis.stateful import run_state_machine_as_test

from tests.continuity.test_money_state_machine import SEEN, MoneyMachine, _report, _settings

pytestmark = pytest.mark.django_db


def test_money_soak(demo):
    """The same machine with random seeds, batch after batch, for SOAK_SECONDS. A batch
    that fails counts one finding (shrunk to its smallest interleaving, printed); the
    soak goes on with the next batch."""
    deadline = time.monotonic() + float(os.environ.get("SOAK_SECONDS", "600"))
    batch = int(os.environ.get("SOAK_BATCH_EXAMPLES", "20"))
    MoneyMachine.examples = 0
    SEEN.clear()
    findings: list[str] = []
    while time.monotonic() < deadline:
        try:
            run_state_machine_as_test(
                MoneyMachine,
                settings=_settings(
                    max_examples=batch,
                    derandomize=False,
                    phases=[Phase.generate, Phase.target, Phase.shrink, Phase.explain],
                ),
            )
        except Exception as error:
            # The falsifying steps are in the notes Hypothesis adds to the error.
            notes = "\n".join(getattr(error, "__notes__", []))
            findings.append(f"{type(error).__name__}: {error}\n{notes}")
            print(f"\nfinding {len(findings)}:\n{findings[-1]}\n", flush=True)
    _report()
    print(f"\nexamples run: {MoneyMachine.examples}, findings: {len(findings)}", flush=True)
    assert not findings, "\n\n".join(findings)
