"""Tool: a Python function a language model can call, with a schema from its type hints."""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import Any, Callable

from synaplex.backend.errors import InvalidInputError, ToolArgumentsError


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
        >>> tool = synaplex.Tool(calculate)
    """

    def __init__(self, function: Callable, name: str | None = None, description: str | None = None,
                 timeout: float | None = None, parameters: dict | None = None):
        from synaplex.lm.tools import tool_definition

        if not callable(function):
            raise InvalidInputError(f"Tool wraps a function, got {function!r:.80}.")
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise InvalidInputError(f"timeout must be a positive number of seconds, got {timeout!r}.")
        self.function = function
        self.timeout = timeout
        if parameters is None:
            self._definition = tool_definition(function, name=name, description=description)
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
        from synaplex.lm.validation import validation_errors

        if not isinstance(arguments, dict):
            raise ToolArgumentsError(f"Tool {self.name!r} takes a JSON object of arguments, got {arguments!r:.100}.")
        errors = validation_errors(arguments, self.parameters)
        if errors:
            raise ToolArgumentsError(f"Invalid arguments for tool {self.name!r}: {'; '.join(errors)}.")
        return arguments

    async def __call__(self, **arguments: Any) -> Any:
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
        except asyncio.TimeoutError:
            raise TimeoutError(f"Tool {self.name!r} did not finish within {self.timeout:g} s.") from None

    async def run(self, arguments: Any) -> dict:
        """Call the tool for an agent: ``{"result": ...}`` or ``{"error": "..."}``, never a raise."""
        try:
            return {"result": await self._invoke(self.validate(arguments))}
        except asyncio.CancelledError:
            raise
        except Exception as error:  # reported to the model, which may retry or change course
            return {"error": f"{type(error).__name__}: {error}"}

    def get_config(self) -> dict:
        from synaplex.saving.serialization import serialize_synaplex_object

        return {"function": serialize_synaplex_object(self.function), "timeout": self.timeout, **self._custom}

    @classmethod
    def from_config(cls, config: dict):
        from synaplex.saving.serialization import deserialize_synaplex_object

        config = dict(config)
        config["function"] = deserialize_synaplex_object(config["function"])
        return cls(**config)

    def __repr__(self):
        return f"<Tool name={self.name!r}>"
