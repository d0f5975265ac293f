"""Tool definitions from Python functions: the JSON schema comes from type hints and the
docstring (Google, NumPy or Sphinx style argument descriptions)."""

from __future__ import annotations

import inspect
import re
import typing
import weakref
from typing import Any, Callable

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


_DEFINITIONS: "weakref.WeakKeyDictionary[Callable, dict]" = weakref.WeakKeyDictionary()


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
    import pydantic

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
