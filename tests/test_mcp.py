"""MultiServerMCPClient and MCPTool against real MCP servers (tests/mcp_test_server.py) over stdio
and streamable HTTP on 127.0.0.1."""

import asyncio
import json
import logging
import os
import shlex
import socket
import sys
import time

import pytest

import synaplex
from synaplex.backend.errors import (
    InvalidInputError,
    MissingDependencyError,
    SynaplexError,
    ToolArgumentsError,
    UnsafeLoadError,
)
from synaplex.modules.mcp import (
    MCPConnectionError,
    MCPTool,
    MCPToolError,
    MultiServerMCPClient,
    _convert_result,
)
from synaplex.serialization import (
    deserialize_synaplex_object,
    serialize_synaplex_object,
)
from tests.servers import LoopbackServer, free_port

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mcp_test_server.py")
HEADER = "X-Api-Key"
SECRET = "sekret-7f3a9c-never-shown"
KEY_VARIABLE = "SYNAPLEX_TEST_MCP_KEY"


def stdio(**extra) -> dict:
    return {"transport": "stdio", "command": sys.executable, "args": [SERVER, "stdio"], **extra}


class MCPHttpServer(LoopbackServer):
    """``tests/mcp_test_server.py http PORT``: streamable HTTP that requires the X-Api-Key header."""

    name = "mcp_test_server"

    def __init__(self):
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}/mcp/"

    def command(self) -> list[str]:
        return [sys.executable, SERVER, "http", str(self.port)]

    def env(self) -> dict:
        return {**os.environ, "MCP_TEST_REQUIRED_HEADER": f"{HEADER}:{SECRET}"}

    def ready(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True


@pytest.fixture(scope="module")
def http_server():
    server = MCPHttpServer().start(timeout=30)
    yield server
    server.stop()


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, SECRET)


def http(server: MCPHttpServer, **extra) -> dict:
    return {"url": server.url, "transport": "streamable_http", "headers": {HEADER: f"${{{KEY_VARIABLE}}}"}, **extra}


async def wait_until_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        await asyncio.sleep(0.05)
    return False


# --------------------------------------------------------------------------- validation


def test_connections_are_validated_at_construction():
    cases = [
        ({"s": {"transport": "sse", "url": "http://x/mcp"}},
         "MCP server 's': unknown transport 'sse'; valid transports are 'stdio', 'streamable_http'"),
        ({"files": {"transport": "stdio", "args": ["server.py"]}},
         "MCP server 'files': the stdio transport needs a 'command'"),
        ({"math": {"transport": "streamable_http"}}, "MCP server 'math': the streamable_http transport needs a 'url'"),
        ({"math": {"transport": "http", "url": "ftp://host/mcp"}},
         "MCP server 'math': 'url' must be an http:// or https:// URL"),
        ({"files": {"transport": "stdio", "command": "python", "args": "server.py"}},
         "MCP server 'files': 'args' must be a list of strings"),
        ({"files": {"transport": "stdio", "command": "python", "url": "http://x/mcp"}},
         "MCP server 'files': unknown key 'url' for transport 'stdio'; valid keys are"),
        ({"math": {"url": "http://x/mcp", "timeout": 0}}, "MCP server 'math': 'timeout' must be a positive number"),
        ({"math": {"args": []}}, "MCP server 'math': the connection needs a 'transport' key, one of 'stdio'"),
        ({"math": "http://x/mcp"}, "MCP server 'math': the connection must be a dict"),
        ({"": {"command": "python"}}, "MCP server names must be non-empty strings"),
    ]
    for connections, message in cases:
        with pytest.raises(InvalidInputError) as caught:
            MultiServerMCPClient(connections)
        assert message in str(caught.value), str(caught.value)
        assert isinstance(caught.value, ValueError)
    with pytest.raises(InvalidInputError, match="takes a dict"):
        MultiServerMCPClient([("math", {})])
    with pytest.raises(InvalidInputError, match="startup_timeout must be a positive number"):
        MultiServerMCPClient({}, startup_timeout=0)
    # a header whose value is not a string: named, its value never shown
    with pytest.raises(InvalidInputError, match="entry 'Authorization' is not a string") as caught:
        MultiServerMCPClient({"m": {"url": "http://x/mcp", "headers": {"Authorization": 12345}}})
    assert "12345" not in str(caught.value)
    # "http" is an alias, and the transport is inferred from command/url
    client = MultiServerMCPClient({"a": {"transport": "http", "url": "http://x/mcp"}, "b": {"url": "http://y/mcp"},
                                   "c": {"command": "python"}})
    assert [c["transport"] for c in client.connections.values()] == ["streamable_http", "streamable_http", "stdio"]


async def test_unknown_server_and_missing_mcp_package(monkeypatch):
    client = MultiServerMCPClient({"files": stdio()})
    with pytest.raises(InvalidInputError, match="Unknown MCP server 'nope'; this client's servers are 'files'"):
        await client.get_tools("nope")
    monkeypatch.setitem(sys.modules, "mcp", None)  # as if mcp were not installed
    with pytest.raises(MissingDependencyError, match='pip install "synaplex\\[mcp\\]"'):
        await client.get_tools()


def test_result_conversion():
    from mcp_types import CallToolResult, ImageContent, TextContent

    def result(*content, **kwargs):
        return CallToolResult(content=list(content), **kwargs)

    assert _convert_result(result(TextContent(type="text", text="5"), structured_content={"result": 5}), "s", "t") == 5
    assert _convert_result(result(structured_content={"a": 1, "b": 2}), "s", "t") == {"a": 1, "b": 2}
    assert _convert_result(result(TextContent(type="text", text='{"x": [1, 2]}')), "s", "t") == {"x": [1, 2]}
    assert _convert_result(result(TextContent(type="text", text="hello"), TextContent(type="text", text="world")),
                           "s", "t") == "hello\nworld"
    assert _convert_result(result(), "s", "t") is None
    image = _convert_result(result(TextContent(type="text", text="a chart"),
                                   ImageContent(type="image", data="aGk=", mime_type="image/png")), "s", "t")
    assert image == [{"type": "text", "text": "a chart"}, {"type": "image", "data": "aGk=", "mimeType": "image/png"}]
    with pytest.raises(MCPToolError, match="^disk full$"):
        _convert_result(result(TextContent(type="text", text="disk full"), is_error=True), "s", "t")
    with pytest.raises(MCPToolError, match="MCP tool 't' of server 's' reported an error"):
        _convert_result(result(is_error=True), "s", "t")


# --------------------------------------------------------------------------- stdio


async def test_stdio_tools_schema_and_calls():
    async with MultiServerMCPClient({"math": stdio()}) as client:
        tools = await client.get_tools()
        listed = {t.name: t for t in await client.list_tools("math")}
        assert [t.name for t in tools] == ["add", "multiply", "fail", "pid", "describe", "slow", "exit_now"]
        add = tools[0]
        assert isinstance(add, MCPTool) and isinstance(add, synaplex.Tool)
        assert add.parameters == listed["add"].input_schema  # the server's schema, as is
        assert add.parameters["properties"]["a"]["description"] == "The first number."
        assert add.parameters["required"] == ["a", "b"]
        assert add.description.startswith("Add two numbers.")
        assert add.get_tool_definition()["name"] == "add"
        assert await add.run({"a": 2, "b": 3}) == {"result": 5.0}
        assert await tools[1](a=2.5, b=4) == 10.0
        failed = await tools[2].run({"x": 7})
        assert failed == {"error": "MCPToolError: Error executing tool fail: fail refuses to handle 7"}
        with pytest.raises(MCPToolError, match="fail refuses to handle 8"):
            await client.call_tool("math", "fail", {"x": 8})
        with pytest.raises(ToolArgumentsError, match="Invalid arguments for tool 'add'"):
            await add(a="two", b=1)
        assert await client.call_tool("math", "describe", {"word": "mcp"}) == {"word": "mcp", "length": 3,
                                                                             "upper": "MCP"}
        with pytest.raises(MCPToolError, match="nope"):
            await client.call_tool("math", "nope", {})


async def test_one_process_serves_every_call_and_aclose_stops_it():
    client = MultiServerMCPClient({"math": stdio()})
    # concurrent first uses open a single session
    pids = await asyncio.gather(*(client.call_tool("math", "pid") for _ in range(5)))
    assert len(set(pids)) == 1 and pids[0] != os.getpid()
    (pid_tool,) = [t for t in await client.get_tools() if t.name == "pid"]
    assert await pid_tool() == pids[0] and await pid_tool() == pids[0]
    await client.aclose()
    assert await wait_until_gone(pids[0]), "aclose() did not stop the stdio server"
    # the client can be used again: a new process
    again = await client.call_tool("math", "pid")
    assert again != pids[0]
    async with client:
        pass
    assert await wait_until_gone(again)


def test_a_new_event_loop_opens_a_fresh_session():
    client = MultiServerMCPClient({"math": stdio()})
    first = asyncio.run(client.call_tool("math", "pid"))
    assert asyncio.run(wait_until_gone(first)), "the session did not end with its event loop"
    second = asyncio.run(client.call_tool("math", "add", {"a": 1, "b": 1}))
    assert second == 2.0
    third = asyncio.run(client.call_tool("math", "pid"))
    assert third != first
    asyncio.run(client.aclose())
    asyncio.run(wait_until_gone(third))


async def test_a_timed_out_call_leaves_the_session_usable():
    async with MultiServerMCPClient({"math": stdio()}) as client:
        tools = {t.name: t for t in await client.get_tools(timeout=0.3)}
        pid = await tools["pid"]()
        started = time.monotonic()
        timed_out = await tools["slow"].run({"seconds": 5})
        assert timed_out == {"error": "TimeoutError: Tool 'slow' did not finish within 0.3 s."}
        assert time.monotonic() - started < 2
        assert await tools["slow"].run({"seconds": 0}) == {"result": "done"}
        assert await tools["pid"]() == pid


async def test_a_lost_server_is_reported_and_reopened():
    async with MultiServerMCPClient({"math": stdio()}) as client:
        pid = await client.call_tool("math", "pid")
        with pytest.raises(MCPConnectionError) as caught:
            await client.call_tool("math", "exit_now")
        message = str(caught.value)
        assert message.startswith("MCP server 'math' (transport stdio")
        assert "the connection was lost during tool 'exit_now'" in message
        assert "exiting on request" in message
        assert await client.call_tool("math", "pid") != pid  # reopened


async def test_a_stdio_server_that_exits_at_once():
    command = [sys.executable, "-c", "import sys; sys.stderr.write('boom: missing config\\n'); sys.exit(3)"]
    client = MultiServerMCPClient({"broken": {"transport": "stdio", "command": command[0], "args": command[1:]}})
    with pytest.raises(MCPConnectionError) as caught:
        await client.get_tools()
    error = caught.value
    assert isinstance(error, SynaplexError) and isinstance(error, ConnectionError)
    message = str(error)
    assert message.startswith("MCP server 'broken' (transport stdio, command: ")
    assert shlex.join(command) in message
    assert "could not connect" in message and "Connection closed" in message
    assert message.endswith("The server's stderr ends with:\nboom: missing config")
    assert error.server_name == "broken" and error.transport == "stdio" and error.stderr == "boom: missing config"
    # a tool call reports it to the agent instead of raising: that it failed, no command line, no stderr
    tool = MCPTool(client, "broken", "add", parameters={"type": "object", "properties": {}})
    assert await tool.run({}) == {"error": "MCPConnectionError: MCP server 'broken' is unavailable: tool 'add' "
                                           "could not run."}


async def test_a_missing_command_and_a_startup_timeout():
    client = MultiServerMCPClient({"ghost": {"command": "/nonexistent/mcp-server", "args": ["--serve"]}})
    with pytest.raises(MCPConnectionError, match="(?s)command: /nonexistent/mcp-server --serve.*FileNotFoundError.*"
                                                 "Check that the command exists"):
        await client.get_tools()
    client = MultiServerMCPClient({"math": stdio(cwd="/nonexistent/mcp-dir")})
    with pytest.raises(MCPConnectionError, match="Check that the working directory \\(cwd\\) exists"):
        await client.get_tools()
    # a server that never answers the handshake (it reads stdin until it closes)
    slow = [sys.executable, "-c", "import sys; sys.stderr.write('warming up\\n'); sys.stderr.flush(); sys.stdin.read()"]
    client = MultiServerMCPClient({"slow": {"command": slow[0], "args": slow[1:]}}, startup_timeout=1)
    started = time.monotonic()
    with pytest.raises(MCPConnectionError) as caught:
        await client.get_tools()
    assert time.monotonic() - started < 8
    assert "MCP server 'slow'" in str(caught.value)
    assert "the server did not finish starting within 1 s" in str(caught.value)
    assert str(caught.value).endswith("warming up")


async def test_env_values_are_expanded_and_never_shown(monkeypatch):
    monkeypatch.setenv("SYNAPLEX_TEST_MCP_TOKEN", SECRET)
    connection = stdio(env={"TOKEN": "${SYNAPLEX_TEST_MCP_TOKEN}", "LITERAL": "literal-" + SECRET})
    client = MultiServerMCPClient({"math": connection})
    assert SECRET not in repr(client) and "env: TOKEN, LITERAL" in repr(client)
    tools = {t.name: t for t in await client.get_tools()}
    config = json.dumps(serialize_synaplex_object(tools["add"]))
    assert SECRET not in config and "${SYNAPLEX_TEST_MCP_TOKEN}" in config
    assert json.loads(config)["config"]["connection"]["redacted"] == {"env": ["LITERAL"]}
    await client.aclose()
    monkeypatch.delenv("SYNAPLEX_TEST_MCP_TOKEN")
    with pytest.raises(InvalidInputError) as caught:
        await client.get_tools()
    assert str(caught.value) == ("MCP server 'math': env entry 'TOKEN' uses ${SYNAPLEX_TEST_MCP_TOKEN}, but the "
                                 "environment variable SYNAPLEX_TEST_MCP_TOKEN is not set.")


SECRETS = {"key": "sk-proj-0123456789abcdefghij", "github": "ghp_0123456789abcdefghijABCDEFGHIJ",
           "db": "hunter2-db-password", "url": "url-password-42", "query": "query-token-value-99",
           "bare": "xoxb-1234567890-abcdefghij"}


def test_secret_arguments_and_url_parameters_are_never_saved(caplog):
    args = ["server.js", "--api-key", SECRETS["key"], f"--github-token={SECRETS['github']}", "--verbose",
            f"DB_PASSWORD={SECRETS['db']}", f"postgres://admin:{SECRETS['url']}@db.example/app", SECRETS["bare"],
            "--port", "8080"]
    client = MultiServerMCPClient({"files": {"command": "node", "args": args}})
    tool = MCPTool(client, "files", "read", parameters={"type": "object", "properties": {}})
    saved = json.dumps(serialize_synaplex_object(tool))
    assert not [name for name, secret in SECRETS.items() if secret in saved]
    connection = json.loads(saved)["config"]["connection"]
    assert connection["args"] == ["server.js", "--api-key", "[REDACTED]", "--github-token=[REDACTED]", "--verbose",
                                  "DB_PASSWORD=[REDACTED]", "postgres://[REDACTED]@db.example/app", "[REDACTED]",
                                  "--port", "8080"]
    assert connection["redacted"] == {"args": [2, 3, 5, 6, 7]}
    assert not [name for name, secret in SECRETS.items() if secret in repr(client)]
    config = json.loads(saved)
    with caplog.at_level(logging.WARNING, logger="synaplex.mcp"):
        loaded = deserialize_synaplex_object(config, allow=("processes",))
    assert config == json.loads(saved)  # loading leaves the file's data as it was
    assert loaded.client.connections["files"]["args"] == connection["args"]
    assert "MCP tool 'read' of server 'files' was saved without the values of args: 2, 3, 5, 6, 7" in caplog.text

    url = (f"https://admin:{SECRETS['url']}@mcp.example/mcp?api_key={SECRETS['query']}&format=json"
           f"&access_token={SECRETS['query']}")
    client = MultiServerMCPClient({"remote": {"url": url}})
    tool = MCPTool(client, "remote", "read", parameters={"type": "object", "properties": {}})
    saved = json.dumps(serialize_synaplex_object(tool))
    assert SECRETS["url"] not in saved and SECRETS["query"] not in saved
    assert json.loads(saved)["config"]["connection"] == {
        "transport": "streamable_http", "url": "https://mcp.example/mcp?format=json",
        "redacted": {"url": ["userinfo", "api_key", "access_token"]}}


async def test_a_failed_server_is_logged_redacted_and_the_model_only_learns_that_the_tool_failed(caplog):
    secret = SECRETS["key"]
    code = "import sys; sys.stderr.write('boom: the key ' + sys.argv[2] + ' was refused\\n'); sys.exit(3)"
    client = MultiServerMCPClient({"broken": {"command": sys.executable, "args": ["-c", code, "--api-key", secret]}})
    tool = MCPTool(client, "broken", "add", parameters={"type": "object", "properties": {}})
    with caplog.at_level(logging.WARNING, logger="synaplex.mcp"):
        result = await tool.run({})
    assert result == {"error": "MCPConnectionError: MCP server 'broken' is unavailable: tool 'add' could not run."}
    log = caplog.text
    assert "MCP tool 'add' could not run: MCP server 'broken' (transport stdio, command: " in log
    assert "--api-key '[REDACTED]'" in log and "boom: the key [REDACTED] was refused" in log and secret not in log
    # whoever uses the client directly gets the whole story, redacted as well
    with pytest.raises(MCPConnectionError) as caught:
        await client.get_tools()
    assert caught.value.stderr == "boom: the key [REDACTED] was refused" and secret not in str(caught.value)


async def test_an_agent_uses_mcp_tools_and_saves_them():
    def call(name, id_, **arguments):
        return {"content": "", "tool_calls": [{"id": id_, "name": name, "arguments": arguments}]}

    class FinalAnswer(synaplex.DataModel):
        answer: float = synaplex.Field(description="The numerical answer")

    lm = synaplex.LanguageModel(model="scripted", responses=[
        call("add", "c1", a=2, b=3), call("multiply", "c2", a=5, b=4), call("fail", "c3", x=1),
        call("final_answer", "c4", answer=20)])
    client = MultiServerMCPClient({"math": stdio()})
    tools = [t for t in await client.get_tools() if t.name in ("add", "multiply", "fail")]
    agent = synaplex.FunctionCallingAgent(data_model=FinalAnswer, tools=tools, language_model=lm)
    result = await agent(synaplex.JsonDataModel(json={"query": "(2+3)*4?"},
                                                schema={"type": "object", "properties": {"query": {"type": "string"}}}))
    assert result.get("answer") == 20
    contents = [json.loads(m["content"]) for m in result.get("messages") if m["role"] == "tool"]
    assert contents[:3] == [{"result": 5.0}, {"result": 20.0},
                            {"error": "MCPToolError: Error executing tool fail: fail refuses to handle 1"}]
    assert {t["name"] for t in lm.requests[0]["tools"]} >= {"add", "multiply", "fail"}
    # the agent saves with its MCP tools, and the loaded tools call the server again
    config = json.loads(json.dumps(serialize_synaplex_object(agent)))
    assert config["config"]["tools"][0]["registered_name"] == "synaplex>MCPTool"
    with pytest.raises(UnsafeLoadError, match="config.tools\\[0\\].config.connection.command would start the process"):
        deserialize_synaplex_object(config)  # safe by default: a config is data (tests/test_safe_loading.py)
    loaded = deserialize_synaplex_object(config, allow=("processes",))
    assert [t.name for t in loaded.tools] == ["add", "multiply", "fail"]
    assert await loaded.tools[1](a=3, b=3) == 9.0
    await client.aclose()
    await loaded.tools[0].client.aclose()


# --------------------------------------------------------------------------- streamable HTTP


async def test_http_tools_schema_calls_and_session(http_server, api_key):
    client = synaplex.modules.mcp.MultiServerMCPClient({"math": http(http_server)})
    try:
        tools = {t.name: t for t in await client.get_tools()}
        listed = {t.name: t for t in await client.list_tools("math")}
        assert tools["multiply"].parameters == listed["multiply"].input_schema
        assert tools["multiply"].parameters["properties"]["b"]["description"] == "The second factor."
        assert await tools["add"].run({"a": 1.5, "b": 2}) == {"result": 3.5}
        assert await tools["multiply"](a=6, b=7) == 42.0
        failed = await tools["fail"].run({"x": 3})
        assert failed == {"error": "MCPToolError: Error executing tool fail: fail refuses to handle 3"}
        pids = await asyncio.gather(*(tools["pid"]() for _ in range(3)))
        assert len(set(pids)) == 1 and pids[0] == http_server.process.pid
        assert len(client._sessions) == 1
    finally:
        await client.aclose()


async def test_http_headers_are_sent_and_never_shown(http_server, api_key, caplog):
    # without the header the server answers 401
    client = MultiServerMCPClient({"math": {"url": http_server.url, "transport": "streamable_http"}})
    with pytest.raises(MCPConnectionError, match=f"MCP server 'math' \\(transport streamable_http, url: "
                                                 f"{http_server.url}\\): could not connect"):
        await client.get_tools()
    # a literal secret works, but is never in a repr, an error or a saved config
    literal = MultiServerMCPClient({"math": {"url": http_server.url, "headers": {HEADER: SECRET, "X-Trace": "on"}}})
    templated = MultiServerMCPClient({"math": http(http_server)})
    try:
        tool = next(t for t in await literal.get_tools() if t.name == "add")
        assert await tool(a=1, b=2) == 3.0
        assert SECRET not in repr(literal) and f"headers: {HEADER}, X-Trace" in repr(literal)
        assert SECRET not in repr(tool)
        saved = json.dumps(serialize_synaplex_object(tool))
        assert SECRET not in saved
        assert json.loads(saved)["config"]["connection"] == {
            "url": http_server.url, "transport": "streamable_http", "redacted": {"headers": [HEADER, "X-Trace"]}}
        with caplog.at_level(logging.WARNING, logger="synaplex.mcp"):
            reloaded = deserialize_synaplex_object(json.loads(saved))
        assert f"saved without the values of headers: {HEADER}, X-Trace" in caplog.text and SECRET not in caplog.text
        failed = await reloaded.run({"a": 1, "b": 2})  # the server rejects it: no key
        assert failed["error"].startswith("MCPConnectionError: MCP server 'math'") and SECRET not in failed["error"]
        # a ${VAR} template is saved, and the reloaded tool reads the variable when it connects
        (add,) = [t for t in await templated.get_tools() if t.name == "add"]
        config = json.loads(json.dumps(serialize_synaplex_object(add)))
        assert config["config"]["connection"]["headers"] == {HEADER: f"${{{KEY_VARIABLE}}}"}
        with pytest.raises(UnsafeLoadError, match=f"config.connection.headers.{HEADER} would read the environment "
                                                  f"variable {KEY_VARIABLE}"):
            deserialize_synaplex_object(config)
        back = deserialize_synaplex_object(config, allow=("environment",))
        assert isinstance(back, MCPTool) and back.parameters == add.parameters and back.description == add.description
        assert await back(a=20, b=22) == 42.0
        # one shared client per connection
        assert deserialize_synaplex_object(config, allow=("environment",)).client is back.client
        await back.client.aclose()
    finally:
        await literal.aclose()
        await templated.aclose()


async def test_http_with_nothing_listening():
    url = f"http://127.0.0.1:{free_port()}/mcp/"
    client = MultiServerMCPClient({"math": {"transport": "streamable_http", "url": url, "headers": {HEADER: SECRET}}},
                                  startup_timeout=10)
    with pytest.raises(MCPConnectionError) as caught:
        await client.get_tools()
    message = str(caught.value)
    assert message.startswith(f"MCP server 'math' (transport streamable_http, url: {url}, headers: {HEADER}): "
                              "could not connect: ConnectError")
    assert "Check that the server is running" in message and SECRET not in message
    assert caught.value.transport == "streamable_http" and caught.value.stderr is None


async def test_servers_with_the_same_tool_names(http_server, api_key):
    client = MultiServerMCPClient({"local": stdio(), "remote": http(http_server)})
    try:
        with pytest.raises(InvalidInputError, match="MCP servers 'local' and 'remote' both have a tool named 'add'"):
            await client.get_tools()
        assert len(await client.get_tools("remote")) == 7
    finally:
        await client.aclose()
    prefixed = MultiServerMCPClient({"local": stdio(), "remote": http(http_server)}, tool_name_prefix=True)
    try:
        tools = {t.name: t for t in await prefixed.get_tools()}
        assert {"local_add", "remote_add", "local_pid", "remote_pid"} <= set(tools)
        assert tools["remote_pid"].tool_name == "pid"
        assert await tools["remote_pid"]() == http_server.process.pid
        assert await tools["local_pid"]() != http_server.process.pid
    finally:
        await prefixed.aclose()
