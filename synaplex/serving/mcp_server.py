"""A program served as an MCP tool, with the official MCP SDK (the ``mcp`` extra).

The tool's name is the program's name, its input schema the program's input DataModel and
its output schema the output DataModel; a call answers the output as structured content
(and as JSON text). Over stdio (``run_stdio``) or streamable HTTP (``http_app``, path
``/mcp``). Any MCP client can call it, synaplex's own ``MultiServerMCPClient`` and agents too.
"""

from __future__ import annotations

import json
import re
from typing import Any

import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from synaplex.backend.errors import InvalidInputError
from synaplex.serving.runner import InputValidationError, ProgramRunner, error_json
from synaplex.version import __version__


def tool_name(program_name: str) -> str:
    """The program's name as an MCP tool name (letters, digits, ``_``, ``-``, ``.``)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", program_name)[:128]
    return name or "program"


def create_server(program: Any, *, max_concurrency: int = 64, queue_timeout: float = 30.0) -> Any:
    """The MCP server (``mcp.server.lowlevel.Server``) whose one tool runs ``program``."""
    runner = ProgramRunner(program, max_concurrency=max_concurrency, queue_timeout=queue_timeout)
    if runner.multiple_inputs or runner.input_schema.get("type") != "object":
        raise InvalidInputError(
            f"Program {program.name!r} takes {len(runner.input_schemas)} inputs; an MCP tool takes one object. "
            "Serve a program with one input DataModel over MCP (or over HTTP, which takes a list).")
    name = tool_name(program.name)
    output_schema = runner.output_schema if runner.output_schema.get("type") == "object" else None
    tool = types.Tool(name=name, description=getattr(program, "description", None)
                      or f"Run the synaplex program {program.name!r}.",
                      input_schema=runner.input_schema, output_schema=output_schema)

    def failed(text: str) -> types.CallToolResult:
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)

    async def list_tools(ctx, params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool])

    async def call_tool(ctx, params) -> types.CallToolResult:
        if params.name != name:
            return failed(f"Unknown tool {params.name!r}; this server has one tool, {name!r}.")
        try:
            output = await runner.run(params.arguments or {})
        except InputValidationError as error:
            return failed(str(error))
        except Exception as error:  # noqa: BLE001 - a tool error goes back to the caller
            detail = error_json(error)
            return failed(f"{detail['type']}: {detail['message']}")
        if output is None:
            return failed(f"The program {program.name!r} returned no output (a branch not taken).")
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=json.dumps(output, ensure_ascii=False))],
            structured_content=output if isinstance(output, dict) else None)

    return Server(program.name, version=__version__, description=getattr(program, "description", None),
                  on_list_tools=list_tools, on_call_tool=call_tool)


async def run_stdio(server: Any) -> None:
    """Serve over stdin/stdout until the client closes them."""
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def http_app(server: Any, host: str = "127.0.0.1") -> Any:
    """The streamable HTTP ASGI app (path ``/mcp``)."""
    return server.streamable_http_app(streamable_http_path="/mcp", host=host)
