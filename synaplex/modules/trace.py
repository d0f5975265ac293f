"""Traces: what each trainable module saw and produced during a training step.

While ``fit`` runs an example with ``training=True``, every Generator (and the modules built
on it) records one :class:`Trace` per call: its state Variable, the inputs and the outputs.
Once the example's reward is known the trainer writes it (and the example's ``y``) on the
example's traces, and the
optimizer reads them: few-shot examples come from well-rewarded traces, and OMEGA shows
the language model what a variable's module did and how well.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator
from typing import Any

_ACTIVE: contextvars.ContextVar[list | None] = contextvars.ContextVar("synaplex_traces", default=None)


@dataclasses.dataclass
class Trace:
    variable: Any  # the module's trainable Variable (its state)
    module: str
    inputs: dict
    outputs: dict | None
    reward: float | None = None
    target: dict | None = None  # the example's expected output (y), set by the trainer


def record(variable: Any, module: str, inputs: dict, outputs: dict | None) -> None:
    """Record one call of a trainable module, when a trainer is collecting (else nothing)."""
    traces = _ACTIVE.get()
    if traces is not None:
        traces.append(Trace(variable=variable, module=module, inputs=inputs, outputs=outputs))


@contextlib.contextmanager
def collecting() -> Iterator[list[Trace]]:
    """Collect the traces of the calls made in this block (and the tasks it starts)."""
    traces: list[Trace] = []
    token = _ACTIVE.set(traces)
    try:
        yield traces
    finally:
        _ACTIVE.reset(token)
