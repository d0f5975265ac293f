"""The trace of one served call: which modules ran, for how long, and their LM calls.

The playground shows it, and ``POST /run?trace=true`` returns it. It is recorded only for a
call that asks for it: :func:`instrument` wraps each module's ``call`` once, and the wrapper
does nothing but a context-variable read while no trace is active. LM calls are counted
through :func:`synaplex.lm.usage.track_usage` and attributed to the innermost module running
(context variables follow the asyncio tasks of a program's graph).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import time
from collections.abc import Iterator
from typing import Any

from synaplex.lm.usage import track_usage

_TRACE: contextvars.ContextVar[CallTrace | None] = contextvars.ContextVar("synaplex_serving_trace", default=None)
_MODULE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("synaplex_serving_module", default=None)

_INSTRUMENTED = "_synaplex_serving_instrumented"


class CallTrace:
    """What one call did: ``modules`` (in start order) and ``usage`` totals, as JSON."""

    def __init__(self, program_name: str):
        self.program = program_name
        self.started = time.perf_counter()
        self.duration_ms: float | None = None
        self.modules: list[dict] = []
        self.unattributed: list[dict] = []   # LM calls made outside any module (none in a program)

    def _elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 3)

    def record_lm_call(self, model: str, usage: Any) -> None:
        call = {"model": model, "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
                "total_tokens": usage.total_tokens, "cost": usage.cost,
                "latency_ms": round(usage.latency * 1000, 3), "cache_hits": usage.cache_hits}
        module = _MODULE.get()
        (module["lm_calls"] if module is not None else self.unattributed).append(call)

    def finish(self) -> None:
        if self.duration_ms is None:
            self.duration_ms = self._elapsed_ms()

    def to_json(self) -> dict:
        calls = [c for m in self.modules for c in m["lm_calls"]] + self.unattributed
        costs = [c["cost"] for c in calls]
        return {
            "program": self.program,
            "duration_ms": self.duration_ms if self.duration_ms is not None else self._elapsed_ms(),
            "modules": self.modules,
            "usage": {
                "lm_calls": len(calls),
                "input_tokens": sum(c["input_tokens"] for c in calls),
                "output_tokens": sum(c["output_tokens"] for c in calls),
                "total_tokens": sum(c["total_tokens"] for c in calls),
                "cost": None if any(c is None for c in costs) else sum(costs),
            },
        }


def _wrap(module: Any, call: Any) -> Any:
    @functools.wraps(call)
    async def traced_call(*args, **kwargs):
        trace = _TRACE.get()
        if trace is None:
            return await call(*args, **kwargs)
        record = {"name": module.name, "type": type(module).__name__, "start_ms": trace._elapsed_ms(),
                  "duration_ms": None, "error": None, "lm_calls": []}
        trace.modules.append(record)
        token = _MODULE.set(record)
        started = time.perf_counter()
        try:
            return await call(*args, **kwargs)
        except Exception as error:
            record["error"] = type(error).__name__
            raise
        finally:
            record["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
            _MODULE.reset(token)

    return traced_call


def instrument(program: Any) -> None:
    """Wrap the ``call`` of every module of ``program`` (nested ones included), once."""
    for module in [program, *program._all_modules()]:
        if module.__dict__.get(_INSTRUMENTED):
            continue
        module.call = _wrap(module, module.call)
        module.__dict__[_INSTRUMENTED] = True


@contextlib.contextmanager
def tracing(trace: CallTrace | None) -> Iterator[None]:
    """Record into ``trace`` the modules and LM calls run inside the block (no-op for None)."""
    if trace is None:
        yield
        return
    token = _TRACE.set(trace)
    try:
        with track_usage("synaplex.serving") as tracker:
            tracker.record = trace.record_lm_call   # one entry per call, not only the totals
            yield
    finally:
        _TRACE.reset(token)
