"""``synaplex serve --mcp``: the program as an MCP tool, over stdio and streamable HTTP, called
with the official SDK's client and with synaplex's own MultiServerMCPClient (what agents use)."""

import contextlib
import signal
import sys

import httpx2
import mcp
import pytest
from mcp.client.streamable_http import streamable_http_client

import synaplex
from tests.serving_helpers import (
    ROOT,
    Question,
    Reply,
    ServerProcess,
    run_cli,
    save_echo_program,
    save_two_input_program,
)


@pytest.fixture(scope="module")
def program_file(tmp_path_factory):
    return save_echo_program(str(tmp_path_factory.mktemp("mcp") / "echo.json"))


def stdio_parameters(program_file):
    return mcp.StdioServerParameters(command=sys.executable, cwd=ROOT,
                                     args=["-m", "synaplex.cli", "serve", program_file, "--mcp", "--allow", "imports"])


async def test_stdio_tool_has_the_programs_schemas_and_answers(program_file):
    async with mcp.Client(stdio_parameters(program_file)) as client:
        (tool,) = (await client.list_tools()).tools
        assert tool.name == "echo_qa" and tool.description == "Echoes the question."
        assert tool.input_schema == Question.get_schema()
        assert tool.output_schema == Reply.get_schema()
        result = await client.call_tool("echo_qa", {"query": "over mcp", "shout": True})
        assert not result.is_error
        assert result.structured_content == {"answer": "ECHO: OVER MCP (SHORT)"}
        assert result.content[0].text == '{"answer": "ECHO: OVER MCP (SHORT)"}'
        bad = await client.call_tool("echo_qa", {"query": 7})
        assert bad.is_error
        assert "The input does not match the program's input DataModel: body.query: 7 is not of type 'string'" \
            in bad.content[0].text
        failed = await client.call_tool("echo_qa", {"query": "fail here"})
        assert failed.is_error and failed.content[0].text.startswith("StructuredOutputError: ")


async def test_synaplex_own_client_calls_the_served_program(program_file):
    connection = {"transport": "stdio", "command": sys.executable, "cwd": ROOT,
                  "args": ["-m", "synaplex.cli", "serve", program_file, "--mcp", "--allow", "imports"]}
    async with synaplex.MultiServerMCPClient({"echo": connection}) as client:
        (tool,) = await client.get_tools()
        assert tool.name == "echo_qa"
        assert await tool(query="from an agent's tool", repeat=2) == \
            {"answer": "echo: from an agent's tool (short) echo: from an agent's tool (short)"}


def test_serve_mcp_refuses_a_file_that_needs_trust(program_file):
    result = run_cli("serve", program_file, "--mcp")
    assert result.returncode == 1 and "If you trust this file, pass --allow imports" in result.stderr
    assert result.stdout == ""   # nothing on the protocol's stream


async def test_streamable_http_with_a_bearer_token(program_file, tmp_path):
    token = "mcp-Token-0123456789abcdef"
    server = ServerProcess(program_file, "--mcp", "--transport", "http", "--allow", "imports", tmp_path=tmp_path,
                           env={"SYNAPLEX_SERVE_TOKEN": token}, health_path=None).wait_ready()
    try:
        refused = httpx2.post(server.url + "/mcp", json={}, timeout=10)
        assert refused.status_code == 401
        async with contextlib.AsyncExitStack() as stack:
            http = await stack.enter_async_context(httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {token}"}, timeout=30))
            client = await stack.enter_async_context(
                mcp.Client(streamable_http_client(server.url + "/mcp", http_client=http)))
            (tool,) = (await client.list_tools()).tools
            assert tool.input_schema == Question.get_schema()
            result = await client.call_tool("echo_qa", {"query": "over http", "style": "long"})
            assert result.structured_content == {"answer": "echo: over http (long)"}
    finally:
        assert server.stop() == -signal.SIGTERM
    assert token not in server.log()


@pytest.fixture(scope="module")
def two_input_file(tmp_path_factory):
    return save_two_input_program(str(tmp_path_factory.mktemp("mcp2") / "two.json"))


async def test_a_program_of_two_inputs_is_one_tool_taking_an_object_of_its_inputs(two_input_file):
    async with mcp.Client(stdio_parameters(two_input_file)) as client:
        (tool,) = (await client.list_tools()).tools
        assert tool.name == "two_inputs"
        assert tool.input_schema == {"type": "object", "properties": {"question": Question.get_schema(),
                                                                      "draft": Reply.get_schema()},
                                     "required": ["question", "draft"], "additionalProperties": False}
        result = await client.call_tool("two_inputs", {"draft": {"answer": "maybe"},
                                                       "question": {"query": "two at once"}})
        assert not result.is_error and result.structured_content == {"answer": "echo: two at once (short)"}
        unknown = await client.call_tool("two_inputs", {"question": {"query": "q"}, "draft": {"answer": "a"},
                                                        "extra": {}})
        assert unknown.is_error and unknown.content[0].text == (
            "Unknown argument extra: the tool takes question, draft (one object each).")
        missing = await client.call_tool("two_inputs", {"question": {"query": "q"}})
        assert missing.is_error and "body.1: None is not of type 'object'" in missing.content[0].text


def test_the_inputs_object_merges_definitions_and_renames_a_clash():
    from synaplex.serving.mcp_server import inputs_object_schema

    def with_inner(kind):
        return {"type": "object", "properties": {"x": {"$ref": "#/$defs/Inner"}},
                "$defs": {"Inner": {"type": kind}}}

    same = inputs_object_schema(["a", "b"], [with_inner("string"), with_inner("string")])
    assert same["$defs"] == {"Inner": {"type": "string"}}
    assert same["properties"]["b"]["properties"]["x"] == {"$ref": "#/$defs/Inner"}
    clash = inputs_object_schema(["a", "b"], [with_inner("string"), with_inner("integer")])
    assert clash["$defs"] == {"Inner": {"type": "string"}, "b_Inner": {"type": "integer"}}
    assert clash["properties"]["a"]["properties"]["x"] == {"$ref": "#/$defs/Inner"}
    assert clash["properties"]["b"]["properties"]["x"] == {"$ref": "#/$defs/b_Inner"}
    assert "$defs" not in clash["properties"]["b"]
