"""Tools and tool calls.

* Tool definitions from Python functions: the JSON schema comes from type hints and the
  docstring (Google, NumPy or Sphinx style argument descriptions).
* Tool calls from a model's reply: one parser for every adapter, streamed or not
  (:func:`tool_call`, :func:`assemble_tool_calls`). Arguments that are not one JSON object
  are never turned into ``{}``: the call carries ``arguments_error`` and must not run.
"""

from __future__ import annotations

import inspect
import json
import re
import reprlib
import typing
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import pydantic

from synaplex.backend.errors import InvalidInputError

_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params|Returns|Raises|Yields|Examples?|Notes?)\s*:?\s*$")


def _argument_docs(doc: str) -> tuple[str, dict[str, str]]:
    """The summary and ``{argument: description}`` of a docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary_lines: list[str] = []
    docs: dict[str, str] = {}
    section = None
    current = None
    for line in lines:
        sphinx = re.match(r"^\s*:param\s+(?:[\w\[\], |]+\s+)?(\w+)\s*:\s*(.*)$", line)
        if sphinx:
            current, docs[sphinx.group(1)] = sphinx.group(1), sphinx.group(2).strip()
            section = "args"
            continue
        header = _SECTION.match(line)
        if header:
            section = "args" if header.group(1).lower().startswith(("arg", "param")) else "other"
            current = None
            continue
        if re.match(r"^\s*-{3,}\s*$", line):
            continue
        if section is None:
            if line.strip():
                summary_lines.append(line.strip())
            elif summary_lines:
                section = "body"
            continue
        if section == "args":
            entry = re.match(r"^\s{0,4}(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$", line)
            numpy = re.match(r"^\s{0,4}(\w+)\s*:\s*[\w\[\], |.]+$", line)
            if entry and not line.startswith(" " * 8):
                current = entry.group(1).lstrip("*")
                docs[current] = entry.group(3).strip()
            elif numpy:
                current = numpy.group(1)
                docs[current] = ""
            elif current and line.strip():
                docs[current] = (docs[current] + " " + line.strip()).strip()
    return " ".join(summary_lines), docs


_DEFINITIONS: weakref.WeakKeyDictionary[Callable, dict] = weakref.WeakKeyDictionary()


def tool_definition(fn: Callable, name: str | None = None, description: str | None = None) -> dict:
    """``{"name", "description", "parameters"}`` for ``fn``.

    Every argument needs a type hint (the model must know what to send); a missing one is an
    error naming the argument. ``self``/``cls`` and ``*args``/``**kwargs`` are not allowed.

    Example:
        >>> async def add(a: int, b: int) -> int:
        ...     '''Add two numbers.
        ...
        ...     Args:
        ...         a: the first number.
        ...         b: the second number.
        ...     '''
        >>> tool_definition(add)["parameters"]["properties"]["a"]
        {'description': 'the first number.', 'type': 'integer'}
    """
    if name is None and description is None:
        try:
            cached = _DEFINITIONS.get(fn)
        except TypeError:  # not weak-referenceable
            cached = None
        if cached is not None:
            return cached
    if not callable(fn):
        raise InvalidInputError(f"A tool must be a function, got {fn!r:.80}.")
    tool_name = name or getattr(fn, "__name__", None)
    if not tool_name or not re.match(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$", tool_name):
        raise InvalidInputError(
            f"A tool's name must be 1-64 letters, digits, '_' or '-', got {tool_name!r}; pass name=...")
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as error:
        raise InvalidInputError(f"Tool {tool_name!r}: cannot read its type hints ({error}).") from None
    summary, docs = _argument_docs(fn.__doc__ or "")
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.name in ("self", "cls"):
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise InvalidInputError(
                f"Tool {tool_name!r}: *{param.name} / **{param.name} cannot be described to a model; "
                "declare each argument with a type hint.")
        if param.name not in hints:
            raise InvalidInputError(
                f"Tool {tool_name!r}: argument {param.name!r} has no type hint. Add one (e.g. "
                f"{param.name}: str) so the model knows what to send.")
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (hints[param.name], pydantic.Field(default, description=docs.get(param.name) or None))
    model = pydantic.create_model(f"{tool_name}_arguments", **fields)
    parameters = model.model_json_schema()
    parameters.pop("title", None)
    for prop in parameters.get("properties", {}).values():
        prop.pop("title", None)
    parameters.setdefault("properties", {})
    parameters.setdefault("required", [])
    definition = {"name": tool_name, "description": description or summary or f"The {tool_name} tool.",
                  "parameters": parameters}
    if name is None and description is None:
        try:
            _DEFINITIONS[fn] = definition  # built once per function: pydantic is slow here
        except TypeError:
            pass
    return definition


def to_tool_definitions(tools: list) -> list[dict]:
    """Accept tool definitions, Python functions, or objects with ``get_tool_definition()``."""
    out = []
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("function"), dict):
            tool = tool["function"]  # the OpenAI wire shape
        if isinstance(tool, dict):
            if not {"name", "parameters"} <= set(tool):
                raise InvalidInputError(f"A tool definition needs 'name' and 'parameters', got keys {sorted(tool)}.")
            out.append({"description": "", **tool})
        elif hasattr(tool, "get_tool_definition"):
            out.append(tool.get_tool_definition())
        else:
            out.append(tool_definition(tool))
    names = [t["name"] for t in out]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInputError(f"Tool names must be unique; repeated: {duplicates}.")
    return out


# --- tool calls from a model's reply ------------------------------------------------------------

#: Arguments nested deeper than this are refused: no tool takes them, and reading them further
#: (validation, JSON encoding) would exhaust Python's recursion limit.
MAX_ARGUMENTS_DEPTH = 64
#: How much of a model's raw arguments an error message quotes.
SHOWN_ARGUMENTS_CHARS = 200


def quote_arguments(text: str) -> str:
    """``text`` quoted for an error message, cut to :data:`SHOWN_ARGUMENTS_CHARS` characters."""
    if len(text) <= SHOWN_ARGUMENTS_CHARS:
        return repr(text)
    return f"{text[:SHOWN_ARGUMENTS_CHARS]!r}… ({len(text)} characters in all)"


def _raw_text(raw: Any) -> str:
    """The model's arguments as text: a string as is, a value as JSON (or a bounded repr)."""
    if isinstance(raw, str):
        return raw
    try:
        return json.dumps(raw, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return reprlib.repr(raw)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists/dicts more than ``limit`` levels (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, tuple)))
    return False


def parse_tool_arguments(raw: Any) -> tuple[dict, str | None]:
    """A model's tool-call arguments as a dict, and what is wrong with them (``None`` if nothing).

    ``raw`` is the wire's JSON text (OpenAI-style ``"arguments"``, streamed deltas joined) or an
    already decoded value (Anthropic's ``input``, Gemini's ``args``). ``None`` and an empty or
    blank text mean no arguments (``{}``). Anything else that is not one JSON object nested at
    most :data:`MAX_ARGUMENTS_DEPTH` levels is a problem: the dict is then ``{}`` and must not be
    used to run the tool. The problem's text quotes the raw arguments, cut to
    :data:`SHOWN_ARGUMENTS_CHARS` characters.

    Example:
        >>> parse_tool_arguments('{"path": "build/scratch", "dry_run": fal')[1]
        "the arguments are not valid JSON (Expecting value: line 1 column 38 (char 37)): ..."
    """
    if raw is None:
        return {}, None
    value = raw
    if isinstance(raw, str):
        if not raw.strip():
            return {}, None
        try:
            value = json.loads(raw)
        except RecursionError:
            return {}, f"the arguments are nested more than {MAX_ARGUMENTS_DEPTH} levels deep: {quote_arguments(raw)}"
        except ValueError as error:
            return {}, f"the arguments are not valid JSON ({error}): {quote_arguments(raw)}"
    # depth before type: a text too deep for the decoder (how deep it may go depends on the
    # caller's stack) is reported above as nested too deep, so a decoded one is too
    if isinstance(value, (dict, list, tuple)) and _deeper_than(value, MAX_ARGUMENTS_DEPTH):
        return {}, (f"the arguments are nested more than {MAX_ARGUMENTS_DEPTH} levels deep: "
                    f"{quote_arguments(_raw_text(raw))}")
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null", int: "a number",
                float: "a number"}.get(type(value), type(value).__name__)
        return {}, f"the arguments must be a JSON object, got {kind}: {quote_arguments(_raw_text(raw))}"
    return value, None


def tool_call(call_id: Any, name: Any, raw_arguments: Any) -> dict:
    """One neutral tool call, ``{"id", "name", "arguments"}``, from what a model sent.

    When the arguments cannot be used (see :func:`parse_tool_arguments`), ``arguments`` is ``{}``
    and the call also carries ``arguments_error`` (what is wrong, quoting the raw text cut to
    200 characters) and ``arguments_raw`` (the whole raw text). Such a call must never run:
    ``Tool.run_call`` and the agents refuse it and report the error to the model.
    """
    arguments, problem = parse_tool_arguments(raw_arguments)
    call = {"id": call_id, "name": name, "arguments": arguments}
    if problem:
        call["arguments_error"] = problem
        call["arguments_raw"] = _raw_text(raw_arguments)
    return call


def mark_cut_off(call: dict) -> dict:
    """Mark ``call`` as written when the reply hit its token limit: its arguments may be cut
    short even where they parse, so it must not run."""
    if not call.get("arguments_error"):
        raw = call.get("arguments_raw", _raw_text(call.get("arguments")))
        call["arguments_error"] = ("the reply hit its token limit while this call was written, so its "
                                   f"arguments may be incomplete: {quote_arguments(raw)}")
        call["arguments_raw"] = raw
        call["arguments"] = {}
    return call


def assemble_tool_calls(chunks: Iterable[Any]) -> list[dict]:
    """The tool calls of a streamed reply, from its ``StreamChunk`` objects (or their
    ``tool_call_deltas`` dicts), parsed as the non-streamed reply's calls are.

    The ``arguments_delta`` pieces of each call are joined and read with :func:`tool_call`;
    when the stream ended at the token limit (``finish_reason == "length"``), the last call
    is marked with :func:`mark_cut_off`.

    Example:
        >>> chunks = [chunk async for chunk in await lm(messages, tools=tools, streaming=True)]
        >>> calls = assemble_tool_calls(chunks)
    """
    parts: dict[int, dict] = {}
    finish = None
    for chunk in chunks:
        deltas = [chunk] if isinstance(chunk, dict) else (getattr(chunk, "tool_call_deltas", None) or [])
        if not isinstance(chunk, dict) and getattr(chunk, "finish_reason", None):
            finish = chunk.finish_reason
        for delta in deltas:
            entry = parts.setdefault(delta.get("index", 0), {"id": None, "name": None, "pieces": []})
            for key in ("id", "name"):
                if delta.get(key) and not entry[key]:
                    entry[key] = delta[key]
            entry["pieces"].append(delta.get("arguments_delta") or "")
    calls = [tool_call(entry["id"] or "", entry["name"] or "", "".join(entry["pieces"]))
             for _, entry in sorted(parts.items())]
    if calls and finish == "length":
        mark_cut_off(calls[-1])
    return calls
