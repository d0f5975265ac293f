import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import synaplex
from tests.conftest import Answer, Query


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    synaplex.enable_observability(tracer_provider=provider)
    yield exporter
    synaplex.disable_observability()


async def build(lm):
    inputs = synaplex.Input(data_model=Query)
    outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
    return synaplex.Program(inputs=inputs, outputs=outputs, name="traced")


async def test_program_module_and_lm_spans_are_nested(spans):
    lm = synaplex.LanguageModel(model="scripted", responses=[{"answer": "Paris"}],
                                api_key="sk-never-in-a-span-1234567890", temperature=0.2)
    program = await build(lm)
    await program(Query(query="Capital of France?"))
    by_name = {s.name: s for s in spans.get_finished_spans()}
    assert set(by_name) == {"synaplex.program traced", "synaplex.module generator", "chat scripted"}
    program_span, module_span, lm_span = (by_name["synaplex.program traced"],
                                          by_name["synaplex.module generator"], by_name["chat scripted"])
    assert module_span.parent.span_id == program_span.context.span_id
    assert lm_span.parent.span_id == module_span.context.span_id
    attrs = dict(lm_span.attributes)
    assert attrs["gen_ai.request.model"] == "scripted" and attrs["gen_ai.provider.name"] == "scripted"
    assert attrs["gen_ai.request.temperature"] == 0.0  # the Generator's temperature wins
    assert attrs["gen_ai.usage.input_tokens"] > 0 and attrs["gen_ai.usage.output_tokens"] > 0
    assert "gen_ai.input.messages" not in attrs  # content is not recorded by default
    assert "sk-never" not in str(attrs)


async def test_failed_lm_call_marks_the_span_as_error(spans):
    program = await build(synaplex.LanguageModel(model="scripted", responses=[{"wrong": 1}]))
    with pytest.raises(synaplex.errors.StructuredOutputError):
        await program(Query(query="x"))
    lm_span = next(s for s in spans.get_finished_spans() if s.name == "chat scripted")
    assert lm_span.status.status_code.name == "ERROR"
    assert lm_span.events[0].name == "exception"


async def test_no_spans_once_disabled(spans):
    synaplex.disable_observability()
    program = await build(synaplex.LanguageModel(model="scripted", responses=[{"answer": "a"}]))
    await program(Query(query="x"))
    assert spans.get_finished_spans() == ()


async def test_enable_logging_reports_lm_calls(caplog):
    synaplex.enable_logging()
    with caplog.at_level(logging.DEBUG, logger="synaplex"):
        program = await build(synaplex.LanguageModel(model="scripted", responses=[{"answer": "a"}]))
        await program(Query(query="x"))
    record = next(r for r in caplog.records if r.name == "synaplex.lm")
    assert record.getMessage().startswith("scripted: ") and "output tokens, cost 0.0" in record.getMessage()
    logging.getLogger("synaplex").setLevel(logging.WARNING)
