"""A program served as an MCP tool, with the official MCP SDK (the ``mcp`` extra).

The tool's name is the program's name, its input schema the program's input DataModel and
its output schema the output DataModel; a call answers the output as structured content
(and as JSON text). A program of several inputs takes one object whose properties are its
inputs, named as the program names them (the keys of a dict of inputs, else the Input
modules' names), each holding that input's JSON. Over stdio (``run_stdio``) or streamable HTTP (``http_app``, path
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
    names = input_names(program) if runner.multiple_inputs else None
    if names is None and runner.input_schema.get("type") != "object":
        raise InvalidInputError(
            f"Program {program.name!r} takes a {runner.input_schema.get('type')!r} input; an MCP tool takes one "
            "object. Serve a program whose input is a DataModel over MCP.")
    name = tool_name(program.name)
    output_schema = runner.output_schema if runner.output_schema.get("type") == "object" else None
    input_schema = runner.input_schema if names is None else inputs_object_schema(names, runner.input_schemas)
    tool = types.Tool(name=name, description=getattr(program, "description", None)
                      or f"Run the synaplex program {program.name!r}.",
                      input_schema=input_schema, output_schema=output_schema)

    def failed(text: str) -> types.CallToolResult:
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)

    async def list_tools(ctx, params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool])

    async def call_tool(ctx, params) -> types.CallToolResult:
        if params.name != name:
            return failed(f"Unknown tool {params.name!r}; this server has one tool, {name!r}.")
        arguments = params.arguments or {}
        if names is not None:  # the object of inputs -> the program's list of inputs, in its order
            unknown = sorted(set(arguments) - set(names))
            if unknown:
                return failed(f"Unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: the tool "
                              f"takes {', '.join(names)} (one object each).")
            arguments = [arguments.get(key) for key in names]
        try:
            output = await runner.run(arguments)
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


def input_names(program: Any) -> list[str]:
    """The names of a program's inputs, in its order: a dict's keys, else its Input modules' names."""
    graph = program._graph
    structure = graph.inputs_structure
    if isinstance(structure, dict) and all(not isinstance(v, (dict, list, tuple)) for v in structure.values()):
        return [str(key) for key in structure]
    names = [getattr(x, "name", None) or f"input_{i}" for i, x in enumerate(graph.inputs)]
    if len(set(names)) != len(names):  # never two properties of one name
        names = [f"{n}_{i}" for i, n in enumerate(names)]
    return names


def inputs_object_schema(names: list[str], schemas: list[dict]) -> dict:
    """One object whose property ``names[i]`` is ``schemas[i]``, their ``$defs`` merged at its root
    (a clash of two definitions of one name is renamed in the second schema)."""
    defs: dict[str, Any] = {}
    properties = {}
    for key, schema in zip(names, schemas):
        schema = json.loads(json.dumps(schema))  # a copy to rewrite
        incoming = schema.pop("$defs", None) or {}
        targets = {}
        for def_name, definition in incoming.items():
            target = def_name
            while target in defs and defs[target] != definition or target in targets.values():
                target = f"{key}_{target}"
            targets[def_name] = target
        renames = {f"#/$defs/{old}": f"#/$defs/{new}" for old, new in targets.items() if old != new}
        for def_name, definition in incoming.items():
            defs[targets[def_name]] = _renamed_refs(definition, renames)
        properties[key] = _renamed_refs(schema, renames)
    object_schema: dict[str, Any] = {"type": "object", "properties": properties, "required": list(names),
                                     "additionalProperties": False}
    if defs:
        object_schema["$defs"] = defs
    return object_schema


def _renamed_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: (renames.get(v, v) if k == "$ref" and isinstance(v, str) else _renamed_refs(v, renames))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_renamed_refs(item, renames) for item in node]
    return node


async def run_stdio(server: Any) -> None:
    """Serve over stdin/stdout until the client closes them."""
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def http_app(server: Any, host: str = "127.0.0.1") -> Any:
    """The streamable HTTP ASGI app (path ``/mcp``)."""
    return server.streamable_http_app(streamable_http_path="/mcp", host=host)
