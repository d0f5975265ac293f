"""Light spans (synaplex.observability.spans) give what the OpenTelemetry SDK's spans give: the same
exported spans, the same parents, the processors' hooks, the provider's sampler decision, limits and
ids, and a current span that user code can annotate or nest under. A provider the light path cannot
reproduce (a custom sampler) gets the SDK's own spans."""

import random

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import synaplex
from synaplex.observability.spans import LightSpan
from tests.conftest import Query
from tests.test_agents import FinalAnswer, add, broken, call, turn


class Starts(SpanProcessor):
    """Records the span objects it is given at their start, and tags each one (as some vendors' processors do)."""

    def __init__(self):
        self.started = []

    def on_start(self, span, parent_context=None):
        self.started.append(span)
        span.set_attribute("tenant.id", "acme")


def provider_with(sampler=None, **kwargs):
    exporter, starts = InMemorySpanExporter(), Starts()
    provider = TracerProvider(sampler=sampler, **kwargs) if sampler is not None else TracerProvider(**kwargs)
    provider.add_span_processor(starts)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter, starts


@pytest.fixture(autouse=True)
def tracing_off_after():
    yield
    synaplex.disable_observability()


ODD = object()
USER_TRACERS: list = []  # the user's own tracer, from the test's provider (not the process-wide global one)


def sdk_cleaned(value):
    """What the SDK's own span keeps of an attribute value."""
    span = TracerProvider().get_tracer("reference").start_span("reference")
    span.set_attribute("value", value)
    return span.attributes.get("value", "dropped")


def annotate(x: int) -> int:
    """A tool that annotates the current span and opens a span of its own."""
    span = trace_api.get_current_span()
    span.set_attribute("user.flag", x)
    span.set_attribute("user.tags", ["a", "b"])
    span.set_attribute("user.odd", ODD)  # cleaned as the SDK cleans it, not raised
    span.add_event("user.event", {"step": 1})
    with USER_TRACERS[-1].start_as_current_span("user.inner"):
        pass
    return x + 1


async def run_agent(tool, replies):
    lm = synaplex.LanguageModel(model="scripted", responses=list(replies))
    agent = synaplex.FunctionCallingAgent(data_model=FinalAnswer, tools=[synaplex.Tool(tool)], language_model=lm,
                                          name="calculator")
    x = synaplex.Input(data_model=Query)
    program = synaplex.Program(inputs=x, outputs=await agent(x), name="agentic")
    await program(Query(query="2+3?"))


def shape(spans) -> list[tuple]:
    """Everything an exporter reads, with ids replaced by the parent's name."""
    by_id = {s.context.span_id: s.name for s in spans}
    rows = []
    for s in spans:
        attributes = {k: v for k, v in s.attributes.items() if not k.startswith("exception.")}
        events = [(e.name, sorted(k for k in e.attributes)) for e in s.events]
        rows.append((s.name, s.kind, by_id.get(s.parent.span_id) if s.parent else None, attributes,
                     s.status.status_code, s.status.description, events, s.resource.attributes,
                     s.instrumentation_scope, s.context.trace_flags, s.dropped_attributes))
    return sorted(rows, key=repr)


SCENARIOS = [(add, [turn(call("add", "c1", a=2, b=3)), turn(call("final_answer", "c2", answer=5))]),
             (broken, [turn(call("broken", x=1)), turn(call("final_answer", "c2", answer=0))])]


@pytest.mark.parametrize("tool,replies", SCENARIOS, ids=["add", "broken"])
async def test_light_spans_export_what_the_sdk_spans_export(tool, replies):
    light_provider, light, light_starts = provider_with()
    synaplex.enable_observability(tracer_provider=light_provider)
    await run_agent(tool, replies)
    # every sampled ratio of 1 samples everything, but it is not the default sampler: the SDK's path
    sdk_provider, sdk, sdk_starts = provider_with(ParentBased(TraceIdRatioBased(1.0)))
    synaplex.enable_observability(tracer_provider=sdk_provider)
    await run_agent(tool, replies)
    assert light_starts.started and all(isinstance(s, LightSpan) for s in light_starts.started)
    assert sdk_starts.started and not any(isinstance(s, LightSpan) for s in sdk_starts.started)
    light_spans, sdk_spans = light.get_finished_spans(), sdk.get_finished_spans()
    assert len(light_spans) == 5 and all(s.attributes["tenant.id"] == "acme" for s in light_spans)
    assert shape(light_spans) == shape(sdk_spans)
    trace_ids = {s.context.trace_id for s in light_spans}
    assert len(trace_ids) == 1 and len({s.context.span_id for s in light_spans}) == 5


async def test_user_code_inside_a_tool_annotates_and_nests_under_the_tool_span():
    provider, exporter, _ = provider_with()
    synaplex.enable_observability(tracer_provider=provider)
    USER_TRACERS.append(provider.get_tracer("user-code"))
    outer_tracer = provider.get_tracer("user-app")
    with outer_tracer.start_as_current_span("user.request") as outer:
        await run_agent(annotate, [turn(call("annotate", "c1", x=4)), turn(call("final_answer", "c2", answer=5))])
    spans = {s.name: s for s in exporter.get_finished_spans()}
    tool, inner, program = spans["execute_tool annotate"], spans["user.inner"], spans["synaplex.program agentic"]
    assert tool.attributes["user.flag"] == 4 and tool.attributes["user.tags"] == ("a", "b")
    assert tool.attributes.get("user.odd", "dropped") == sdk_cleaned(ODD)
    assert [e.name for e in tool.events] == ["user.event"] and dict(tool.events[0].attributes) == {"step": 1}
    assert inner.parent.span_id == tool.context.span_id
    assert program.parent.span_id == outer.get_span_context().span_id
    assert {s.context.trace_id for s in spans.values()} == {outer.get_span_context().trace_id}


@pytest.mark.parametrize("sampler,exported", [(None, 0), (ALWAYS_ON, 5)], ids=["parent-based", "always-on"])
async def test_an_unsampled_remote_parent_is_followed_as_the_sampler_says(sampler, exported):
    provider, exporter, starts = provider_with(sampler)
    synaplex.enable_observability(tracer_provider=provider)
    parent = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    token = otel_context.attach(trace_api.set_span_in_context(NonRecordingSpan(parent)))
    try:
        await run_agent(add, SCENARIOS[0][1])
    finally:
        otel_context.detach(token)
    spans = exporter.get_finished_spans()
    assert len(spans) == exported and len(starts.started) == exported
    assert all(s.context.trace_id == 0x1234 for s in spans)
    assert all(s.parent.span_id == 0x5678 for s in spans if s.name == "synaplex.program agentic")


async def test_the_providers_attribute_limits_apply():
    provider, exporter, _ = provider_with(span_limits=SpanLimits(max_span_attributes=3, max_span_attribute_length=4))
    synaplex.enable_observability(tracer_provider=provider)
    await run_agent(add, SCENARIOS[0][1])
    tool = next(s for s in exporter.get_finished_spans() if s.name == "execute_tool add")
    assert len(tool.attributes) == 3 and tool.dropped_attributes == 3  # 5 of synaplex's + the processor's tag
    assert all(len(v) <= 4 for v in tool.attributes.values() if isinstance(v, str))


class Counting(IdGenerator):
    def __init__(self):
        self.next = 0

    def generate_span_id(self):
        self.next += 1
        return self.next

    def generate_trace_id(self):
        return 0xABC

    def is_trace_id_random(self):
        return False


async def test_the_providers_id_generator_makes_the_ids():
    provider, exporter, _ = provider_with(id_generator=Counting())
    synaplex.enable_observability(tracer_provider=provider)
    await run_agent(add, SCENARIOS[0][1])
    spans = exporter.get_finished_spans()
    assert sorted(s.context.span_id for s in spans) == [1, 2, 3, 4, 5]
    assert {s.context.trace_id for s in spans} == {0xABC}
    assert not any(s.context.trace_flags & TraceFlags.RANDOM_TRACE_ID for s in spans)


def test_an_ended_light_span_ignores_later_changes():
    provider, exporter, _ = provider_with()
    synaplex.enable_observability(tracer_provider=provider)
    from synaplex.observability import tracing  # noqa: PLC0415 - the span factory enable_observability set

    span = tracing._start("manual", trace_api.SpanKind.INTERNAL, {"a": 1})
    span.set_status(trace_api.StatusCode.OK)
    span.set_status(trace_api.StatusCode.ERROR, "too late: OK is final")
    span.end()
    span.set_attribute("b", 2)
    span.update_name("renamed")
    span.end()  # a second end exports nothing more
    (only,) = exporter.get_finished_spans()
    assert only.name == "manual" and dict(only.attributes) == {"a": 1, "tenant.id": "acme"}
    assert only.status.status_code is trace_api.StatusCode.OK and not span.is_recording()
    assert only.end_time >= only.start_time > 0 and "manual" in repr(span)


def test_random_ids_are_the_sdks_random_ids():
    provider, exporter, _ = provider_with()
    synaplex.enable_observability(tracer_provider=provider)
    from synaplex.observability import tracing  # noqa: PLC0415

    random.seed(7)
    for _ in range(50):
        tracing._start("s", trace_api.SpanKind.INTERNAL, {}).end()
    spans = exporter.get_finished_spans()
    assert len({s.context.trace_id for s in spans}) == 50  # each a root of its own trace
    assert all(s.context.trace_flags.sampled and s.context.trace_flags & TraceFlags.RANDOM_TRACE_ID for s in spans)


def test_an_sdk_whose_readable_span_reads_a_field_light_spans_lack_gets_the_sdks_spans(monkeypatch):
    from opentelemetry.sdk.trace import ReadableSpan  # noqa: PLC0415

    monkeypatch.setattr(ReadableSpan, "future_field", property(lambda self: self._future_field), raising=False)
    provider, exporter, starts = provider_with()
    synaplex.enable_observability(tracer_provider=provider)
    from synaplex.observability import tracing  # noqa: PLC0415

    tracing._start("s", trace_api.SpanKind.INTERNAL, {"a": 1}).end()
    assert starts.started and not any(isinstance(s, LightSpan) for s in starts.started)
    assert [s.name for s in exporter.get_finished_spans()] == ["s"]
