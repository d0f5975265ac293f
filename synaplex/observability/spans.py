"""Light spans: synaplex's spans made without the OpenTelemetry SDK's per-span machinery.

The SDK's ``Tracer.start_span`` costs 24-38 us of CPU per span on the machines this project is
measured on (``bench/overhead.py --tracing``): it validates every attribute into a locked
``BoundedAttributes``, asks the sampler, creates a lock, and copies the span into a
``ReadableSpan`` at its end. A :class:`LightSpan` holds its attributes in a plain dict (synaplex
builds them, so they are valid by construction; what users set through the Span API is still
checked) and hands one ``ReadableSpan`` to the provider's span processors when it ends: 5-8 us.

The light path is taken only when it gives exactly what the SDK would
(:func:`light_tracer` decides once, in ``enable_observability``): an SDK ``Tracer`` that is
enabled, with the SDK's default sampler (``ParentBased(ALWAYS_ON)``) or ``ALWAYS_ON``, and
without the SDK's own metrics. Anything else (a custom sampler, another SDK, a no-op tracer)
gets the SDK's ``start_span``. Either way the span processors see the same calls: ``on_start``
with a recording span (a processor may set attributes on it) and ``on_end`` with a
``ReadableSpan``; the resource, the instrumentation scope, the id generator and the attribute
limits are the provider's. The current span in the OpenTelemetry context is the light span, so
spans the user or other instrumentations start inside a tool or an LM call are its children,
and ``trace.get_current_span().set_attribute(...)`` lands on it.
"""

from __future__ import annotations

import logging
import os
import traceback
from time import time_ns
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, Tracer, sampling
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

logger = logging.getLogger("synaplex.observability")

_PLAIN = (str, bool, int, float)
_UNSET = Status(StatusCode.UNSET)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_SAMPLED_RANDOM = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
_DROPPED = TraceFlags(TraceFlags.DEFAULT)
_DROPPED_RANDOM = TraceFlags(TraceFlags.RANDOM_TRACE_ID)


class LightTracer:
    """What the light spans of one SDK tracer share: its processors, resource, scope, ids, limits."""

    __slots__ = ("tracer", "processor", "scope", "new_trace_id", "new_span_id", "random_ids", "parent_based",
                 "max_attributes", "max_length", "_get_current_span")

    def __init__(self, tracer: Tracer, parent_based: bool, scope: InstrumentationScope, limits: SpanLimits):
        self.tracer = tracer
        self.processor = tracer.span_processor
        self.scope = scope
        self.new_trace_id = tracer.id_generator.generate_trace_id
        self.new_span_id = tracer.id_generator.generate_span_id
        self.random_ids = bool(tracer.id_generator.is_trace_id_random())
        self.parent_based = parent_based
        self.max_attributes = limits.max_span_attributes
        self.max_length = limits.max_span_attribute_length
        self._get_current_span = trace_api.get_current_span

    def start_span(self, name: str, kind: Any, attributes: dict) -> trace_api.Span:
        """A span child of the current one (or a new trace's root), started now."""
        parent = self._get_current_span().get_span_context()
        if parent.is_valid:
            trace_id, trace_state = parent.trace_id, parent.trace_state
            random_ids = bool(parent.trace_flags & TraceFlags.RANDOM_TRACE_ID)
            if self.parent_based and not parent.trace_flags.sampled:  # the SDK's ParentBased drops it too
                flags = _DROPPED_RANDOM if random_ids else _DROPPED
                return NonRecordingSpan(SpanContext(trace_id, self.new_span_id(), False, flags, trace_state))
        else:
            parent, trace_state = None, None
            trace_id, random_ids = self.new_trace_id(), self.random_ids
        context = SpanContext(trace_id, self.new_span_id(), False, _SAMPLED_RANDOM if random_ids else _SAMPLED,
                              trace_state)
        span = LightSpan(self, name, context, parent, kind, attributes)
        self.processor.on_start(span, parent_context=None)
        return span


def light_tracer(tracer: Any) -> LightTracer | None:
    """A :class:`LightTracer` over ``tracer`` when its spans would be the SDK's exactly, else None."""
    if type(tracer) is not Tracer:
        return None
    if tracer.sampler is sampling.DEFAULT_ON:
        parent_based = True
    elif tracer.sampler is sampling.ALWAYS_ON:
        parent_based = False
    else:
        logger.debug("tracing: the sampler %s is not the default: spans go through the SDK's start_span",
                     tracer.sampler.get_description())
        return None
    config = getattr(tracer, "_tracer_config", None)
    if config is not None and not getattr(config, "is_enabled", True):
        return None
    if os.environ.get("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "").strip().lower() == "true":
        return None  # the SDK counts its spans then: let it make them
    scope = getattr(tracer, "_instrumentation_scope", None)
    limits = getattr(tracer, "_span_limits", None)
    if not isinstance(scope, InstrumentationScope) or not isinstance(limits, SpanLimits):
        return None  # an SDK version that keeps them elsewhere: its own start_span is right
    return LightTracer(tracer, parent_based, scope, limits)


class LightSpan(trace_api.Span):
    """A recording span whose attributes are a plain dict; ``end()`` hands a ``ReadableSpan`` on."""

    __slots__ = ("_owner", "_name", "_context", "_parent", "_kind", "_attributes", "_events", "_links", "_status",
                 "_start", "_end")

    def __init__(self, owner: LightTracer, name: str, context: SpanContext, parent: SpanContext | None, kind: Any,
                 attributes: dict):
        self._owner = owner
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._attributes = attributes
        self._events: list = []
        self._links: list = []
        self._status = _UNSET
        self._start = time_ns()
        self._end: int | None = None

    # --- the Span API ---------------------------------------------------------------------

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end is None

    def set_attributes(self, attributes) -> None:
        if self._end is not None:
            return
        target = self._attributes
        for key, value in attributes.items():
            if type(key) is str and key and (type(value) in _PLAIN or (
                    type(value) is tuple and value and all(type(item) is str for item in value))):
                target[key] = value
            else:  # a sequence, or something to refuse: the API's own checks (a warning when dropped)
                target.update(BoundedAttributes(attributes={key: value}))

    def set_attribute(self, key: str, value: Any) -> None:
        self.set_attributes({key: value})

    def add_event(self, name: str, attributes=None, timestamp: int | None = None) -> None:
        if self._end is None:
            self._events.append(Event(name, BoundedAttributes(attributes=attributes), timestamp))

    def add_link(self, context: SpanContext, attributes=None) -> None:
        if self._end is None and context is not None and context.is_valid:
            self._links.append(trace_api.Link(context, BoundedAttributes(attributes=attributes)))

    def update_name(self, name: str) -> None:
        if self._end is None:
            self._name = name

    def set_status(self, status, description: str | None = None) -> None:
        """As the SDK: an OK status is final, UNSET is ignored."""
        if self._end is not None or self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if status.status_code is not StatusCode.UNSET:
            self._status = status

    def record_exception(self, exception: BaseException, attributes=None, timestamp: int | None = None,
                         escaped: bool = False) -> None:
        """An ``exception`` event, with the attributes the SDK gives it."""
        cls = type(exception)
        module, name = cls.__module__, cls.__qualname__
        facts = {"exception.type": f"{module}.{name}" if module and module != "builtins" else name,
                 "exception.message": str(exception),
                 "exception.stacktrace": "".join(traceback.format_exception(exception)),
                 "exception.escaped": str(escaped)}
        if attributes:
            facts.update(attributes)
        self.add_event("exception", facts, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end is not None:
            return
        self._end = end_time if end_time is not None else time_ns()
        owner = self._owner
        attributes = self._attributes
        if owner.max_length is not None or (owner.max_attributes is not None
                                            and len(attributes) > owner.max_attributes):  # the provider's limits
            attributes = BoundedAttributes(owner.max_attributes, attributes, immutable=True,
                                           max_value_len=owner.max_length)
        owner.processor.on_end(ReadableSpan(
            self._name, self._context, self._parent, owner.tracer.resource, attributes, tuple(self._events),
            tuple(self._links), self._kind, None, self._status, self._start, self._end, owner.scope))

    def __repr__(self) -> str:
        return f"LightSpan({self._name!r}, span_id={self._context.span_id:016x}, recording={self._end is None})"
