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
from tests.serving_helpers import ROOT, Question, Reply, ServerProcess, run_cli, save_echo_program


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


def test_a_program_of_two_inputs_cannot_be_one_mcp_tool(tmp_path):
    import asyncio

    from synaplex.backend.errors import InvalidInputError
    from synaplex.serving.mcp_server import create_server

    async def build():
        lm = synaplex.LanguageModel(model="scripted", responses=[{"answer": "x"}])
        a, b = synaplex.Input(data_model=Question), synaplex.Input(data_model=Reply)
        outputs = await synaplex.Generator(data_model=Reply, language_model=lm)(a & b)
        return synaplex.Program(inputs=[a, b], outputs=outputs, name="two_inputs")

    with pytest.raises(InvalidInputError, match="takes 2 inputs; an MCP tool takes one object"):
        create_server(asyncio.run(build()))
