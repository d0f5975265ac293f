"""Spans exported over OTLP/HTTP arrive in a real Arize Phoenix server (from PyPI, started here on
127.0.0.1 with a fresh SQLite working directory), read back through Phoenix's REST API: names,
parents, the span kinds Phoenix derived from ``openinference.span.kind``, the GenAI attributes."""

import json
import os
import sys
import time
import urllib.request

import pytest

import synaplex
from tests.conftest import Query
from tests.servers import LoopbackServer, free_port
from tests.test_agents import FinalAnswer, add, call, turn

PROJECT = "synaplex-test"
HEADER_SECRET = "Bearer otlp-header-secret-0123456789"


class PhoenixServer(LoopbackServer):
    """``phoenix serve`` (arize-phoenix): OTLP/HTTP at ``/v1/traces`` and the REST API on one port."""

    name = "phoenix"

    def __init__(self, working_dir: str):
        super().__init__()
        self.working_dir = working_dir
        self.grpc_port = free_port()

    def command(self) -> list[str]:
        return [sys.executable, "-m", "phoenix.server.main", "serve"]

    def env(self) -> dict:
        return {**os.environ, "PHOENIX_WORKING_DIR": self.working_dir, "PHOENIX_HOST": "127.0.0.1",
                "PHOENIX_PORT": str(self.port), "PHOENIX_GRPC_PORT": str(self.grpc_port),
                "PHOENIX_TELEMETRY_ENABLED": "false"}

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
            return response.status == 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spans(self, project: str) -> list[dict]:
        try:
            with urllib.request.urlopen(f"{self.url}/v1/projects/{project}/spans?limit=1000", timeout=10) as response:
                return json.load(response)["data"]
        except urllib.error.HTTPError as error:
            if error.code == 404:  # the project is created by its first span
                return []
            raise


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory):
    server = PhoenixServer(str(tmp_path_factory.mktemp("phoenix"))).start(timeout=240)
    yield server
    server.stop()


async def test_spans_arrive_in_phoenix_with_their_parents_and_attributes(phoenix):
    # A bare host: enable_observability adds /v1/traces. The header travels with the export only.
    provider = synaplex.enable_observability(endpoint=phoenix.url, headers={"authorization": HEADER_SECRET},
                                             project_name=PROJECT)
    try:
        lm = synaplex.LanguageModel(model="scripted", responses=[turn(call("add", "call-1", a=2, b=3)),
                                                                 turn(call("final_answer", "c2", answer=5))])
        agent = synaplex.FunctionCallingAgent(data_model=FinalAnswer, tools=[synaplex.Tool(add)], language_model=lm,
                                              name="calculator")
        x = synaplex.Input(data_model=Query)
        program = synaplex.Program(inputs=x, outputs=await agent(x), name="phoenix_run")
        result = await program(Query(query="2+3?"))
        assert result.get("answer") == 5
        assert provider.force_flush(30_000)
    finally:
        synaplex.disable_observability()
        provider.shutdown()

    deadline = time.monotonic() + 30
    spans = phoenix.spans(PROJECT)
    while len(spans) < 5 and time.monotonic() < deadline:   # Phoenix inserts in the background
        time.sleep(0.2)
        spans = phoenix.spans(PROJECT)
    assert sorted(s["name"] for s in spans) == sorted(["synaplex.program phoenix_run", "invoke_agent calculator",
                                                       "chat scripted", "chat scripted", "execute_tool add"])
    by_id = {s["context"]["span_id"]: s for s in spans}
    assert len({s["context"]["trace_id"] for s in spans}) == 1

    def parent(span):
        return by_id[span["parent_id"]]["name"] if span["parent_id"] else None

    kinds = {s["name"]: s["span_kind"] for s in spans}
    assert kinds == {"synaplex.program phoenix_run": "CHAIN", "invoke_agent calculator": "AGENT",
                     "chat scripted": "LLM", "execute_tool add": "TOOL"}
    assert {s["name"]: parent(s) for s in spans} == {
        "synaplex.program phoenix_run": None, "invoke_agent calculator": "synaplex.program phoenix_run",
        "chat scripted": "invoke_agent calculator", "execute_tool add": "invoke_agent calculator"}
    chat = next(s for s in spans if s["name"] == "chat scripted")["attributes"]
    assert chat["gen_ai.operation.name"] == "chat" and chat["gen_ai.provider.name"] == "scripted"
    assert chat["gen_ai.request.model"] == "scripted" and chat["gen_ai.usage.input_tokens"] > 0
    assert chat["llm.token_count.prompt"] == chat["gen_ai.usage.input_tokens"]
    assert chat["gen_ai.response.finish_reasons"] == ["stop"] and chat["synaplex.cost_usd"] == 0.0
    tool = next(s for s in spans if s["name"] == "execute_tool add")["attributes"]
    assert tool["gen_ai.tool.name"] == "add" and tool["gen_ai.tool.call.id"] == "call-1"
    assert all(s["status_code"] != "ERROR" for s in spans)
    assert "otlp-header-secret" not in json.dumps(spans)
    assert not any("gen_ai.input.messages" in s["attributes"] for s in spans)   # content is opt-in
