"""Light spans: synaplex's spans made without the OpenTelemetry SDK's per-span machinery.

The SDK's ``Tracer.start_span`` costs 24-38 us of CPU per span on the machines this project is
measured on (``bench/overhead.py --tracing``): it validates every attribute into a locked
``BoundedAttributes``, asks the sampler, creates a lock, and copies the span into a
``ReadableSpan`` at its end. A :class:`LightSpan` holds its attributes in a plain dict (synaplex
builds them, so they are valid by construction; what users set through the Span API is still
checked) and is itself the ``ReadableSpan`` the provider's span processors get when it ends,
as the SDK's span is (it changes no more once ended): 4-7 us with a BatchSpanProcessor.

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

import inspect
import logging
import os
import traceback
import warnings
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
_NONE_DROPPED = (0, 0, 0)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_SAMPLED_RANDOM = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
_DROPPED = TraceFlags(TraceFlags.DEFAULT)
_DROPPED_RANDOM = TraceFlags(TraceFlags.RANDOM_TRACE_ID)


class LightTracer:
    """What the light spans of one SDK tracer share: its processors, resource, scope, ids, limits."""

    __slots__ = ("tracer", "processor", "new_trace_id", "new_span_id", "random_ids", "parent_based",
                 "max_attributes", "max_length", "max_events", "max_links", "_get_current_span", "_span")

    def __init__(self, tracer: Tracer, parent_based: bool, scope: InstrumentationScope, limits: SpanLimits):
        self.tracer = tracer
        self.processor = tracer.span_processor
        # this tracer's span class: what every span of it shares is a class attribute, not a slot
        self._span = type("LightSpan", (LightSpan,), {"__slots__": (), "_owner": self,
                                                      "_instrumentation_scope": scope})
        self.new_trace_id = tracer.id_generator.generate_trace_id
        self.new_span_id = tracer.id_generator.generate_span_id
        self.random_ids = bool(tracer.id_generator.is_trace_id_random())
        self.parent_based = parent_based
        self.max_attributes = limits.max_span_attributes
        self.max_length = limits.max_span_attribute_length
        self.max_events = limits.max_events if limits.max_events is not None else float("inf")
        self.max_links = limits.max_links if limits.max_links is not None else float("inf")
        self._get_current_span = trace_api.get_current_span

    def start_span(self, name: str, kind: Any, attributes: dict) -> trace_api.Span:
        """A span child of the current one (or a new trace's root), started now."""
        parent = self._get_current_span().get_span_context()
        if parent.is_valid:
            trace_id, trace_state = parent.trace_id, parent.trace_state
            flags = parent.trace_flags
            random_ids = bool(flags & TraceFlags.RANDOM_TRACE_ID)
            if self.parent_based and not flags & TraceFlags.SAMPLED:  # the SDK's ParentBased drops it too
                flags = _DROPPED_RANDOM if random_ids else _DROPPED
                return NonRecordingSpan(SpanContext(trace_id, self.new_span_id(), False, flags, trace_state))
        else:
            parent, trace_state = None, None
            trace_id, random_ids = self.new_trace_id(), self.random_ids
        context = SpanContext(trace_id, self.new_span_id(), False, _SAMPLED_RANDOM if random_ids else _SAMPLED,
                              trace_state)
        span = self._span(name, context, parent, kind, attributes)
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
    light = LightTracer(tracer, parent_based, scope, limits)
    return light if _reads_as_a_readable_span(light) else None


def _reads_as_a_readable_span(light: LightTracer) -> bool:
    """Whether every public property of this SDK's ``ReadableSpan`` reads on a light span: an SDK
    version whose ReadableSpan reads a field a light span lacks gets the SDK's own spans."""
    probe = light._span("probe", SpanContext(1, 1, False, _SAMPLED), None, trace_api.SpanKind.INTERNAL, {})
    probe._end_time = probe._start_time  # ended, and never handed to a processor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # instrumentation_info is deprecated
        for name, _ in inspect.getmembers(ReadableSpan, lambda m: isinstance(m, property)):
            try:
                getattr(probe, name)
            except AttributeError as error:
                logger.debug("tracing: ReadableSpan.%s does not read on a light span (%s): the SDK makes the "
                             "spans", name, error)
                return False
    return True


class LightSpan(trace_api.Span, ReadableSpan):
    """A recording span whose attributes are a plain dict. Like the SDK's span it is also the
    ``ReadableSpan`` the processors get when it ends (it changes no more after ``end()``)."""

    __slots__ = ("_name", "_context", "_parent", "_kind", "_attributes", "_events", "_links", "_status",
                 "_start_time", "_end_time", "_dropped")
    _owner: LightTracer  # these three are class attributes of each tracer's subclass
    _instrumentation_scope: InstrumentationScope
    _instrumentation_info = None

    def __init__(self, name: str, context: SpanContext, parent: SpanContext | None, kind: Any, attributes: dict):
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._attributes = attributes
        self._events: tuple | list = ()  # a list once something is added
        self._links: tuple | list = ()
        self._status = _UNSET
        self._start_time = time_ns()
        self._end_time: int | None = None
        self._dropped = _NONE_DROPPED  # attributes, events, links over the provider's limits

    # --- what the processors and exporters read (the ReadableSpan properties: fast counts) ----

    @property
    def _resource(self):  # ReadableSpan.resource reads it: the tracer's, as the SDK's span has it
        return self._owner.tracer.resource

    @property
    def dropped_attributes(self) -> int:
        return self._dropped[0]

    @property
    def dropped_events(self) -> int:
        return self._dropped[1]

    @property
    def dropped_links(self) -> int:
        return self._dropped[2]

    def _drop(self, index: int, count: int = 1) -> None:
        dropped = list(self._dropped)
        dropped[index] += count
        self._dropped = tuple(dropped)

    # --- the Span API ---------------------------------------------------------------------

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attributes(self, attributes) -> None:
        if self._end_time is not None:
            return
        target = self._attributes
        for key, value in attributes.items():
            if type(key) is str and key and (type(value) in _PLAIN or (
                    type(value) is tuple and value and all(type(item) is str for item in value))):
                target[key] = value
            else:  # a sequence, or something to refuse: the API's own checks (a warning when dropped)
                target.update(BoundedAttributes(attributes={key: value}))

    def _facts(self, facts: dict) -> None:
        """synaplex's own attributes (valid by construction: no checks)."""
        if self._end_time is None:
            self._attributes.update(facts)

    def set_attribute(self, key: str, value: Any) -> None:
        self.set_attributes({key: value})

    def add_event(self, name: str, attributes=None, timestamp: int | None = None) -> None:
        if self._end_time is None:
            if len(self._events) < self._owner.max_events:
                self._events = [*self._events, Event(name, BoundedAttributes(attributes=attributes), timestamp)]
            else:
                self._drop(1)

    def add_link(self, context: SpanContext, attributes=None) -> None:
        if self._end_time is None and context is not None and context.is_valid:
            if len(self._links) < self._owner.max_links:
                self._links = [*self._links, trace_api.Link(context, BoundedAttributes(attributes=attributes))]
            else:
                self._drop(2)

    def update_name(self, name: str) -> None:
        if self._end_time is None:
            self._name = name

    def set_status(self, status, description: str | None = None) -> None:
        """As the SDK: an OK status is final, UNSET is ignored."""
        if self._end_time is not None or self._status.status_code is StatusCode.OK:
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
        if self._end_time is not None:
            return
        self._end_time = end_time if end_time is not None else time_ns()
        owner = self._owner
        if owner.max_length is not None or (owner.max_attributes is not None
                                            and len(self._attributes) > owner.max_attributes):  # the limits
            bounded = BoundedAttributes(owner.max_attributes, self._attributes, immutable=True,
                                        max_value_len=owner.max_length)
            self._attributes = bounded
            self._drop(0, bounded.dropped)
        owner.processor.on_end(self)

    def __repr__(self) -> str:
        return f"LightSpan({self._name!r}, span_id={self._context.span_id:016x}, recording={self._end_time is None})"
