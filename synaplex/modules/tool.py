"""Tool: a Python function a language model can call, with a schema from its type hints."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

from synaplex.backend.errors import InvalidInputError, ToolArgumentsError
from synaplex.lm.tools import parse_tool_arguments, tool_definition
from synaplex.lm.validation import validation_errors
from synaplex.observability import tracing
from synaplex.serialization import deserialize_synaplex_object, serialize_synaplex_object


class Tool:
    """Wrap an async (or sync) function as a tool.

    Its JSON schema comes from the type hints and the docstring (argument descriptions
    included); arguments are validated before the call; a sync function runs in a worker
    thread so the event loop never blocks; ``timeout`` bounds a call.

    ``await tool(**arguments)`` calls it and raises on failure. ``await tool.run(arguments)``
    is for agents: it never raises, it returns ``{"result": ...}`` or ``{"error": "..."}``,
    so a failing tool is reported to the model and the loop goes on.

    Example:
        >>> @synaplex.saving.register_synaplex_serializable()
        ... async def calculate(expression: str):
        ...     '''Calculate an arithmetic expression.'''
        >>> tool = synaplex.Tool(calculate)   # or Tool(func=calculate), as Synalinks spells it
    """

    def __init__(self, func: Callable | None = None, name: str | None = None, description: str | None = None,
                 timeout: float | None = None, parameters: dict | None = None, *,
                 function: Callable | None = None):
        if func is not None and function is not None:
            raise InvalidInputError("Tool takes its function once: pass func= (Synalinks' name) or function=, "
                                    "not both.")
        function = func if func is not None else function
        if function is None:
            raise InvalidInputError("Tool needs the function to wrap: Tool(my_function) or Tool(func=my_function).")
        if not callable(function):
            raise InvalidInputError(f"Tool wraps a function, got {function!r:.80}.")
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise InvalidInputError(f"timeout must be a positive number of seconds, got {timeout!r}.")
        self.function = function
        self.timeout = timeout
        self._accepted: frozenset | None = None  # the arguments the function takes, when its hints made the schema
        if parameters is None:
            self._definition = tool_definition(function, name=name, description=description)
            self._accepted = frozenset(self._definition["parameters"].get("properties", {}))
        else:  # an explicit JSON schema (MCP tools, or functions taking **kwargs)
            if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
                raise InvalidInputError(
                    f"Tool(parameters=...) must be the JSON schema of an object, got {parameters!r:.100}."
                )
            if not name:
                name = getattr(function, "__name__", None)
            if not name or not isinstance(name, str):
                raise InvalidInputError("Tool(parameters=...) needs name= when the function has no __name__.")
            self._definition = {"name": name, "description": description or "",
                                "parameters": {"type": "object", **parameters}}
        self._custom = {"name": name, "description": description, "parameters": parameters}

    @property
    def name(self) -> str:
        return self._definition["name"]

    @property
    def description(self) -> str:
        return self._definition["description"]

    @property
    def parameters(self) -> dict:
        return self._definition["parameters"]

    def get_tool_definition(self) -> dict:
        return self._definition

    def validate(self, arguments: Any) -> dict:
        """``arguments`` checked against the tool's schema: a dict, or a model's JSON text.

        Raises:
            ToolArgumentsError: the text is not one JSON object (cut off, garbage, nested more
                than 64 levels), an argument is one the function does not take, or the
                arguments do not follow the schema (a required one missing included: a default
                never stands in for it).
        """

        if arguments is None:  # a model's missing arguments are parsed to {} before they get here
            raise self._not_run("the arguments must be a JSON object, got null")
        arguments, problem = parse_tool_arguments(arguments)
        if problem:
            raise self._not_run(problem)
        unknown = sorted(set(arguments) - self._accepted) if self._accepted is not None else []
        if unknown:  # the function could not take them: refused here, before it is called
            raise ToolArgumentsError(f"Invalid arguments for tool {self.name!r}: unknown argument(s) {unknown}; "
                                     f"it takes {', '.join(sorted(self._accepted)) or 'none'}.")
        errors = validation_errors(arguments, self.parameters)
        if errors:
            raise ToolArgumentsError(f"Invalid arguments for tool {self.name!r}: {'; '.join(errors)}.")
        return arguments

    async def __call__(self, **arguments: Any) -> Any:
        if tracing.TRACER is not None:
            with tracing.tool_span(self, arguments):
                return await self._invoke(self.validate(arguments))
        return await self._invoke(self.validate(arguments))

    async def _invoke(self, arguments: dict) -> Any:
        if inspect.iscoroutinefunction(self.function):
            call = self.function(**arguments)
        else:
            call = asyncio.to_thread(functools.partial(self.function, **arguments))
        if self.timeout is None:
            return await call
        try:
            return await asyncio.wait_for(call, self.timeout)
        except TimeoutError:
            raise TimeoutError(f"Tool {self.name!r} did not finish within {self.timeout:g} s.") from None

    def _not_run(self, problem: str) -> ToolArgumentsError:
        return ToolArgumentsError(f"Tool {self.name!r} was not run: {problem}. Send the arguments as one JSON "
                                  "object that follows the tool's schema.")

    async def run(self, arguments: Any) -> dict:
        """Call the tool for an agent: ``{"result": ...}`` or ``{"error": "..."}``, never a raise.

        ``arguments`` is a dict or the model's JSON text; arguments that cannot be read or do
        not validate give an error and the function is not called.
        """
        if tracing.TRACER is not None:
            with tracing.tool_span(self, arguments) as record:
                result = await self._run(arguments)
                record(result)
                return result
        return await self._run(arguments)

    async def _run(self, arguments: Any) -> dict:
        try:
            return {"result": await self._invoke(self.validate(arguments))}
        except asyncio.CancelledError:
            raise
        except Exception as error:  # reported to the model, which may retry or change course
            return {"error": f"{type(error).__name__}: {error}"}

    async def run_call(self, call: dict) -> dict:
        """Run a tool call parsed from a model's reply, as :meth:`run` does.

        A call that carries ``arguments_error`` (see ``synaplex.lm.tools.tool_call``: its
        arguments were cut off, not JSON, not an object, too deep) is refused with that error,
        whatever its ``arguments`` hold: the tool never runs on arguments the model did not send.
        """
        if tracing.TRACER is not None:
            with tracing.tool_span(self, call.get("arguments"), call.get("id")) as record:
                result = await self._run_call(call)
                record(result)
                return result
        return await self._run_call(call)

    async def _run_call(self, call: dict) -> dict:
        problem = call.get("arguments_error")
        if problem:
            error = self._not_run(str(problem))
            return {"error": f"{type(error).__name__}: {error}"}
        arguments = call.get("arguments")
        return await self._run({} if arguments is None else arguments)  # none sent: none, as on the wire

    @property
    def func(self) -> Callable:
        """The wrapped function (Synalinks' name; ``function`` is the same)."""
        return self.function

    def get_input_schema(self) -> dict:
        """The JSON schema of the tool's arguments (Synalinks' name for ``parameters``)."""
        return self.parameters

    def get_config(self) -> dict:
        return {"func": serialize_synaplex_object(self.function), "timeout": self.timeout, **self._custom}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        if "function" in config and "func" not in config:  # saved before the Synalinks spelling
            config["func"] = config.pop("function")
        if "func" not in config:
            raise InvalidInputError(f"A saved Tool needs its function ('func'); the config has {sorted(config)}.")
        config["func"] = deserialize_synaplex_object(config["func"])
        return cls(**config)

    def __repr__(self):
        return f"<Tool name={self.name!r}>"


def as_tool(tool: Any) -> Tool:
    """``tool`` itself when it is a Tool, else the Tool wrapping the function ``tool``."""
    if isinstance(tool, Tool):
        return tool
    if callable(tool):
        return Tool(tool)
    raise InvalidInputError(f"tools must be synaplex.Tool objects or functions, got {tool!r:.100}.")
