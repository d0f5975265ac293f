"""Running a program for a server: inputs checked against its input DataModels, a limit on
concurrent runs, outputs as JSON, and errors sorted into what the caller did wrong and what
failed on the server's side. The HTTP app and the MCP server share it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from typing import Any

from synaplex.backend import tree
from synaplex.backend.errors import DataModelTypeError, InvalidInputError, SynaplexError
from synaplex.lm.errors import LMError
from synaplex.lm.validation import validator_for
from synaplex.modules.generator import StreamingResponse
from synaplex.serving.call_trace import CallTrace, instrument, tracing

_log = logging.getLogger("synaplex.serving")


class InputValidationError(InvalidInputError):
    """A request's input does not match the program's input DataModel.

    ``errors`` holds one ``{"loc": [...], "msg": ..., "type": ...}`` per problem (FastAPI's
    shape: ``loc`` starts with ``"body"``).
    """

    def __init__(self, message: str, errors: list[dict]):
        super().__init__(message)
        self.errors = errors


class ServerBusyError(SynaplexError):
    """Every slot of the concurrency limit stayed taken for the whole queue timeout."""


def _program_schemas(program: Any, which: str) -> list[dict]:
    graph = getattr(program, "_graph", None)
    if graph is None:
        raise InvalidInputError(
            f"Program {program.name!r} has no graph, so its {which} DataModel is unknown: serve a functional or "
            "sequential program (or a subclass that builds its graph), saved with program.save().")
    structure = graph.inputs if which == "input" else tree.flatten(graph.outputs_structure)
    return [x.get_schema() for x in structure]


def output_json(output: Any) -> Any:
    """A program's output (JsonDataModels, ``None`` for a branch not taken, lists) as JSON."""
    return tree.map_structure(lambda x: None if x is None else x.get_json(), output)


class ProgramRunner:
    """Runs ``program`` on JSON inputs, at most ``max_concurrency`` at once.

    Args:
        program: the program to run (functional or sequential: its input DataModels are known).
        max_concurrency: program runs at once; more requests wait for a slot.
        queue_timeout: seconds a request may wait for a slot before :class:`ServerBusyError`.
        batch_size: examples of one batch run at once.
    """

    def __init__(self, program: Any, max_concurrency: int = 64, queue_timeout: float = 30.0, batch_size: int = 32):
        for name, value in (("max_concurrency", max_concurrency), ("batch_size", batch_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}.")
        if not isinstance(queue_timeout, (int, float)) or not math.isfinite(queue_timeout) or queue_timeout < 0:
            raise InvalidInputError(f"queue_timeout must be a number of seconds >= 0, got {queue_timeout!r}.")
        self.program = program
        self.input_schemas = _program_schemas(program, "input")
        self.output_schemas = _program_schemas(program, "output")
        self.multiple_inputs = len(self.input_schemas) > 1 or isinstance(program._graph.inputs_structure,
                                                                         (list, tuple, dict))
        self.max_concurrency = max_concurrency
        self.queue_timeout = float(queue_timeout)
        self.batch_size = batch_size
        self.running = 0
        self._slots = asyncio.Semaphore(max_concurrency)
        self._validators = [validator_for(schema) for schema in self.input_schemas]
        instrument(program)

    # --- schemas --------------------------------------------------------------------------

    @property
    def input_schema(self) -> dict:
        """The JSON schema of one request's input: the input DataModel's schema, or for a
        program of several inputs an array of them."""
        if not self.multiple_inputs:
            return self.input_schemas[0]
        return {"type": "array", "prefixItems": self.input_schemas, "minItems": len(self.input_schemas),
                "maxItems": len(self.input_schemas), "items": False}

    @property
    def output_schema(self) -> dict:
        schemas = self.output_schemas
        return schemas[0] if len(schemas) == 1 else {"type": "array", "prefixItems": schemas, "items": False}

    # --- validation -----------------------------------------------------------------------

    def validate(self, value: Any, loc: tuple = ("body",)) -> Any:
        """``value`` if it matches the input schema, else :class:`InputValidationError`."""
        errors: list[dict] = []
        if self.multiple_inputs:
            if not isinstance(value, list) or len(value) != len(self.input_schemas):
                errors.append({"loc": list(loc), "type": "type",
                               "msg": f"the program takes {len(self.input_schemas)} inputs: send a JSON array of "
                                      f"{len(self.input_schemas)} objects"})
            else:
                for i, (item, validator) in enumerate(zip(value, self._validators)):
                    errors.extend(self._errors(validator, item, (*loc, i)))
        else:
            errors.extend(self._errors(self._validators[0], value, loc))
        if errors:
            shown = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
            raise InputValidationError(f"The input does not match the program's input DataModel: {shown}", errors)
        return value

    @staticmethod
    def _errors(validator: Any, value: Any, loc: tuple) -> list[dict]:
        found = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
        return [{"loc": [*loc, *error.absolute_path], "msg": error.message, "type": error.validator}
                for error in found]

    # --- running --------------------------------------------------------------------------

    async def _slot(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()   # free: no wait
        else:
            try:
                if self.queue_timeout == 0:
                    raise TimeoutError
                await asyncio.wait_for(self._slots.acquire(), self.queue_timeout)
            except TimeoutError:
                raise ServerBusyError(
                    f"The server is busy: all {self.max_concurrency} slots stayed taken for "
                    f"{self.queue_timeout:g} s. Retry later.") from None
        self.running += 1

    def _release(self) -> None:
        self.running -= 1
        self._slots.release()

    async def run(self, value: Any, trace: CallTrace | None = None, *, validate: bool = True) -> Any:
        """The program's output on ``value`` as JSON (a streaming program's stream is read
        whole). ``value`` is checked against the input schema first unless ``validate=False``."""
        if validate:
            self.validate(value)
        await self._slot()
        try:
            with tracing(trace):
                output = await self.program(value)
                if isinstance(output, StreamingResponse):
                    await output.collect()
                    output = output.to_json_data_model()
            return output_json(output)
        finally:
            if trace is not None:
                trace.finish()
            self._release()

    async def events(self, value: Any, trace: CallTrace | None = None) -> AsyncIterator[tuple[str, Any]]:
        """``("chunk", {"text"})`` while a streaming program's text comes, then
        ``("result", output JSON)``; ``value`` must have been validated."""
        await self._slot()
        try:
            with tracing(trace):
                output = await self.program(value)
                if isinstance(output, StreamingResponse):
                    async for piece in output:
                        yield "chunk", {"text": piece}
                    output = output.to_json_data_model()
            if trace is not None:
                trace.finish()
            yield "result", output_json(output)
        finally:
            self._release()

    async def run_batch(self, values: list) -> tuple[list, list]:
        """Outputs and errors (``None`` or ``{"type", "message"}``) of each value, in order.

        Every value is validated first; a batch takes one slot and runs ``batch_size``
        examples at once."""
        for i, value in enumerate(values):
            self.validate(value, ("body", "inputs", i))
        await self._slot()
        try:
            results = await self.program.predict(values, batch_size=self.batch_size, on_error="return")
        finally:
            self._release()
        outputs, errors = [], []
        for result in results:
            if isinstance(result, Exception):
                outputs.append(None)
                errors.append(error_json(result))
            else:
                if isinstance(result, StreamingResponse):
                    result = await result.collect()
                outputs.append(output_json(result))
                errors.append(None)
        return outputs, errors


def error_status(error: BaseException) -> int:
    """The HTTP status for an error raised while running a program."""
    if isinstance(error, ServerBusyError):
        return 503
    if isinstance(error, LMError):
        return 502    # the language model failed (its message is already redacted)
    if isinstance(error, (InvalidInputError, DataModelTypeError)):
        return 422
    return 500


def error_json(error: BaseException) -> dict:
    """What a client is told of an error: synaplex's typed errors say what happened (secrets
    are redacted from LM errors); anything else is a bug on the server, logged there only."""
    if isinstance(error, SynaplexError):
        return {"type": type(error).__name__, "message": str(error)}
    _log.error("The program raised %s", type(error).__name__, exc_info=error)
    return {"type": "InternalError", "message": "The program failed on the server; see the server's log."}
