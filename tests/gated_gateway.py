"""A simulator whose calls can be held at the gateway: a test makes one thread's charge
(or refund) wait "on the wire" while another thread acts on the same subscription, so
that races are tested with two real database connections meeting at the gateway call.

    with gateway_gate("sale") as gate:        # the next sale call waits
        worker = threading.Thread(target=...)  # e.g. a payment run
        worker.start()
        gate.reached.wait(10)                  # the charge is on the wire now
        ... act on the same rows from this thread ...
        gate.release()                         # the gateway answers
        worker.join()

The fixture `gated_gateway` (tests/conftest.py) points PAYMENT_GATEWAY at this class.
"""

from __future__ import annotations

import contextlib
import threading

from payments.gateways.simulator.gateway import SimulatorGateway


class Gate:
    def __init__(self, operation: str, *, after: bool):
        self.operation = operation
        self.after = after  # hold after the simulator recorded the call (answer lost later)
        self.reached = threading.Event()
        self._open = threading.Event()
        self.calls = 0

    def release(self) -> None:
        self._open.set()

    def hold(self) -> None:
        self.calls += 1
        if self.calls == 1:
            self.reached.set()
            if not self._open.wait(30):
                raise TimeoutError("the gate was never released")


_gates: list[Gate] = []
_lock = threading.Lock()


@contextlib.contextmanager
def gateway_gate(operation: str, *, after: bool = False):
    """Hold the first `operation` call ("sale", "refund", "void", "lookup") until
    released: before the simulator records it by default, after with after=True."""
    gate = Gate(operation, after=after)
    with _lock:
        _gates.append(gate)
    try:
        yield gate
    finally:
        gate.release()
        with _lock:
            _gates.remove(gate)


def _hold(operation: str, *, after: bool) -> None:
    with _lock:
        gates = [g for g in _gates if g.operation == operation and g.after == after]
    for gate in gates:
        gate.hold()


class GatedSimulator(SimulatorGateway):
    def sale(self, **kwargs):
        _hold("sale", after=False)
        result = super().sale(**kwargs)
        _hold("sale", after=True)
        return result

    def refund(self, **kwargs):
        _hold("refund", after=False)
        result = super().refund(**kwargs)
        _hold("refund", after=True)
        return result

    def void(self, **kwargs):
        _hold("void", after=False)
        result = super().void(**kwargs)
        _hold("void", after=True)
        return result

    def lookup(self, idempotency_key):
        _hold("lookup", after=False)
        result = super().lookup(idempotency_key)
        _hold("lookup", after=True)
        return result
