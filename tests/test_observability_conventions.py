"""Spans follow the OpenTelemetry GenAI conventions (and OpenInference's span kind): names,
attributes, parents, cost absent when unknown, content only on opt-in, no secrets."""

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import synaplex
from synaplex.errors import InvalidInputError
from synaplex.knowledge.knowledge_base import KnowledgeBase
from tests.conftest import Answer, Query
from tests.knowledge_models import ENTITIES, FACTS, RELATIONS
from tests.test_agents import FinalAnswer, add, broken, call, turn
from tests.test_provider_embeddings import embedder, vectors_reply
from tests.test_provider_openai_compatible import KEY, MESSAGES, Recorder, chat_reply, lm_with

SECRET = "sk-never-in-a-span-0123456789"
COSTS = ("synaplex.cost_usd", "gen_ai.usage.cost")
CONTENT = ("gen_ai.input.messages", "gen_ai.output.messages", "input.value", "output.value",
           "gen_ai.tool.call.arguments", "gen_ai.tool.call.result")


def traced(record_content=False):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    synaplex.enable_observability(tracer_provider=provider, record_content=record_content)
    return exporter


@pytest.fixture
def spans():
    yield traced()
    synaplex.disable_observability()


@pytest.fixture
def content_spans():
    yield traced(record_content=True)
    synaplex.disable_observability()


def by_name(exporter) -> dict:
    return {s.name: s for s in exporter.get_finished_spans()}


def parent_of(span, spans) -> str | None:
    parents = [s.name for s in spans if span.parent is not None and s.context.span_id == span.parent.span_id]
    return parents[0] if parents else None


async def agent_program(*tools, replies):
    lm = synaplex.LanguageModel(model="scripted", responses=list(replies), api_key=SECRET)
    agent = synaplex.FunctionCallingAgent(data_model=FinalAnswer, tools=list(tools), language_model=lm,
                                          name="calculator")
    x = synaplex.Input(data_model=Query)
    return synaplex.Program(inputs=x, outputs=await agent(x), name="agentic")


async def test_agent_tool_and_chat_spans_follow_the_genai_conventions(spans):
    program = await agent_program(synaplex.Tool(add), replies=[turn(call("add", "call-7", a=2, b=3)),
                                                                turn(call("final_answer", "c2", answer=5))])
    await program(Query(query="2+3?"))
    finished = spans.get_finished_spans()
    names = [s.name for s in finished]
    assert sorted(names) == sorted(["synaplex.program agentic", "invoke_agent calculator", "chat scripted",
                                    "execute_tool add", "chat scripted"])
    named = by_name(spans)
    agent, tool = named["invoke_agent calculator"], named["execute_tool add"]
    assert parent_of(agent, finished) == "synaplex.program agentic"
    assert all(parent_of(s, finished) == "invoke_agent calculator" for s in finished if s.name == "chat scripted")
    assert parent_of(tool, finished) == "invoke_agent calculator"
    assert {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "calculator",
            "openinference.span.kind": "AGENT", "gen_ai.request.model": "scripted"}.items() <= dict(agent.attributes).items()
    assert dict(tool.attributes) == {"gen_ai.operation.name": "execute_tool", "openinference.span.kind": "TOOL",
                                     "gen_ai.tool.name": "add", "gen_ai.tool.type": "function",
                                     "gen_ai.tool.call.id": "call-7"}
    assert tool.status.status_code.name == "UNSET"
    chat = next(s for s in finished if s.name == "chat scripted")
    attrs = dict(chat.attributes)
    assert chat.kind.name == "CLIENT" and tool.kind.name == "INTERNAL"
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["openinference.span.kind"] == "LLM"
    assert attrs["gen_ai.provider.name"] == "scripted" and attrs["gen_ai.request.model"] == "scripted"
    assert attrs["gen_ai.usage.input_tokens"] > 0 and attrs["gen_ai.usage.output_tokens"] == 0  # a bare tool call
    assert "gen_ai.output.type" not in attrs   # tool calls, no output format asked
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)  # as the scripted adapter reports it
    assert dict(named["synaplex.program agentic"].attributes)["openinference.span.kind"] == "CHAIN"
    everything = str([dict(s.attributes) for s in finished])
    assert SECRET not in everything
    assert not any(key in everything for key in CONTENT)  # no content by default


async def test_a_failing_tool_marks_its_span_as_an_error(spans):
    program = await agent_program(synaplex.Tool(broken), replies=[turn(call("broken", x=1)),
                                                                   turn(call("final_answer", "c2", answer=0))])
    await program(Query(query="?"))
    tool = by_name(spans)["execute_tool broken"]
    assert tool.status.status_code.name == "ERROR" and "the database is down" in tool.status.description
    assert dict(tool.attributes)["error.type"] == "tool_error"
    with pytest.raises(RuntimeError, match="database is down"):  # a direct call raises: the SDK records it
        await synaplex.Tool(broken)(x=1)
    direct = [s for s in spans.get_finished_spans() if s.name == "execute_tool broken"][-1]
    assert direct.status.status_code.name == "ERROR" and dict(direct.attributes)["error.type"] == "RuntimeError"
    assert direct.events[0].name == "exception"


async def test_content_is_recorded_only_on_opt_in(content_spans):
    program = await agent_program(synaplex.Tool(add), replies=[turn(call("add", "call-7", a=2, b=3)),
                                                                turn(call("final_answer", "c2", answer=5))])
    await program(Query(query="What is 2+3?"))
    finished = content_spans.get_finished_spans()
    first, second = [s for s in finished if s.name == "chat scripted"]
    inputs = json.loads(dict(first.attributes)["gen_ai.input.messages"])
    assert inputs[0]["role"] == "system" and inputs[0]["parts"][0]["type"] == "text"
    assert inputs[-1]["role"] == "user" and "What is 2+3?" in inputs[-1]["parts"][0]["content"]
    output = json.loads(dict(first.attributes)["gen_ai.output.messages"])
    assert output == [{"role": "assistant", "parts": [{"type": "tool_call", "id": "call-7", "name": "add",
                                                       "arguments": {"a": 2, "b": 3}}],
                       "finish_reason": "stop"}]
    replayed = json.loads(dict(second.attributes)["gen_ai.input.messages"])
    assert {"type": "tool_call_response", "id": "call-7", "response": '{"result": 5}'} in replayed[-1]["parts"]
    tool = dict(by_name(content_spans)["execute_tool add"].attributes)
    assert json.loads(tool["gen_ai.tool.call.arguments"]) == {"a": 2, "b": 3}
    assert json.loads(tool["gen_ai.tool.call.result"]) == {"result": 5}
    assert SECRET not in str([dict(s.attributes) for s in finished])


async def test_structured_output_is_recorded_as_the_reply_text(content_spans):
    lm = synaplex.LanguageModel(model="scripted", responses=[{"answer": "Paris"}])
    x = synaplex.Input(data_model=Query)
    program = synaplex.Program(inputs=x, outputs=await synaplex.Generator(data_model=Answer, language_model=lm)(x))
    await program(Query(query="Capital of France?"))
    attrs = dict(by_name(content_spans)["chat scripted"].attributes)
    assert attrs["gen_ai.output.type"] == "json"
    output = json.loads(attrs["gen_ai.output.messages"])
    assert json.loads(output[0]["parts"][0]["content"]) == {"answer": "Paris"}
    assert "Capital of France?" in attrs["gen_ai.input.messages"]


async def test_cost_is_absent_when_the_price_is_unknown_and_set_when_known(spans):
    unknown = lm_with(Recorder(chat_reply()), model="openai/ibm/granite-4-h-tiny",
                      api_base="http://user:pa55word@localhost:1234/v1")
    await unknown(MESSAGES)
    attrs = dict(by_name(spans)["chat openai/ibm/granite-4-h-tiny"].attributes)
    assert unknown.last_usage.cost is None
    assert not any(name in attrs for name in COSTS)   # absent, never 0
    assert attrs["gen_ai.usage.input_tokens"] == 12 and attrs["gen_ai.usage.output_tokens"] == 3
    assert attrs["gen_ai.response.id"] == "cmpl-1" and attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["server.address"] == "localhost" and attrs["server.port"] == 1234
    assert "pa55word" not in str(attrs) and KEY not in str(attrs)

    known = lm_with(Recorder(chat_reply()), model="openai/gpt-4o-mini", temperature=0.3, max_tokens=50)
    await known(MESSAGES)
    attrs = dict(by_name(spans)["chat openai/gpt-4o-mini"].attributes)
    assert known.last_usage.cost > 0
    assert all(attrs[name] == pytest.approx(known.last_usage.cost) for name in COSTS)
    assert attrs["gen_ai.request.temperature"] == 0.3 and attrs["gen_ai.request.max_tokens"] == 50

    free = synaplex.LanguageModel(model="scripted", responses=[{"content": "hi"}])  # known to be free: 0 is true
    await free(MESSAGES)
    assert dict(by_name(spans)["chat scripted"].attributes)["synaplex.cost_usd"] == 0.0


async def test_embeddings_span_and_its_unknown_cost(spans):
    await embedder(Recorder(vectors_reply(2, prompt_tokens=40)))(["a", "b"])
    await embedder(Recorder(vectors_reply(1)), model="openai/my-embedder", api_base="http://127.0.0.1:9/v1")(["a"])
    known, unknown = (dict(by_name(spans)[f"embeddings {m}"].attributes)
                      for m in ("openai/text-embedding-3-small", "openai/my-embedder"))
    assert known["gen_ai.operation.name"] == "embeddings" and known["openinference.span.kind"] == "EMBEDDING"
    assert known["gen_ai.usage.input_tokens"] == 40 and known["synaplex.cost_usd"] > 0
    assert known["gen_ai.request.model"] == "openai/text-embedding-3-small" and known["synaplex.texts"] == 2
    assert not any(name in unknown for name in COSTS)
    assert "input.value" not in known


@pytest.mark.parametrize("record_content", [False, True])
async def test_knowledge_searches_are_retrieval_spans(tmp_path, record_content):
    exporter = traced(record_content=record_content)
    try:
        kb = KnowledgeBase(uri=f"sqlite:///{tmp_path / 'kb.db'}", entity_models=ENTITIES, relation_models=RELATIONS,
                           embedding_model=synaplex.EmbeddingModel(model="scripted"))
        await kb.update(FACTS)
        exporter.clear()
        hits = await kb.hybrid_search("Paris", labels=["City"], k=2)
        triplets = await kb.triplet_search(subject_label="City", relation_label="IsCapitalOf", k=3)
    finally:
        synaplex.disable_observability()
    finished = exporter.get_finished_spans()
    search, path = [s for s in finished if s.name == "retrieval sqlite"]
    attrs = dict(search.attributes)
    assert attrs["gen_ai.operation.name"] == "retrieval" and attrs["openinference.span.kind"] == "RETRIEVER"
    assert attrs["gen_ai.data_source.id"] == "sqlite" and attrs["synaplex.search.mode"] == "hybrid"
    assert attrs["synaplex.search.k"] == 2 and attrs["synaplex.search.labels"] == ("City",)
    assert attrs["synaplex.search.results"] == len(hits) > 0
    assert dict(path.attributes)["synaplex.search.results"] == len(triplets) > 0
    embed = next(s for s in finished if s.name == "embeddings scripted")
    assert parent_of(embed, finished) == "retrieval sqlite"   # the query's vector, inside the search
    if record_content:
        assert attrs["input.value"] == "Paris"
        assert "Paris" in attrs["retrieval.documents.0.document.content"]
        assert isinstance(attrs["retrieval.documents.0.document.score"], float)
    else:
        assert not any(key.startswith(("input.", "retrieval.documents")) for key in attrs)
    kb.close()


async def test_tracing_off_records_nothing_and_the_endpoint_is_checked():
    exporter = traced()
    synaplex.disable_observability()
    await synaplex.Tool(add)(a=1, b=2)
    assert exporter.get_finished_spans() == ()
    for bad in ("localhost:6006", "ftp://host/v1/traces", 42):
        with pytest.raises(InvalidInputError, match="endpoint"):
            synaplex.enable_observability(endpoint=bad)
    with pytest.raises(InvalidInputError, match="not both"):
        synaplex.enable_observability(endpoint="http://localhost:6006", exporter=InMemorySpanExporter())
    with pytest.raises(InvalidInputError, match="goes with endpoint"):
        synaplex.enable_observability(headers={"authorization": "Bearer x"})
    with pytest.raises(InvalidInputError, match="dict of strings"):
        synaplex.enable_observability(endpoint="http://localhost:6006", headers={"x": 1})
    from synaplex.observability import tracing

    assert tracing.TRACER is None   # a refused call turned nothing on
    with pytest.raises(InvalidInputError) as refused:
        synaplex.enable_observability(endpoint="localhost://user:s3cret@host")
    assert "s3cret" not in str(refused.value)
