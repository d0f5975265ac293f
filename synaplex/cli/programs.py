"""What the commands share: loading a program file (safe mode, ``--model``), reading JSON
inputs and JSON Lines examples, and resolving reward, metric and optimizer ids."""

from __future__ import annotations

import difflib
import json
import os
import re
from typing import Any

from synaplex.backend.errors import InvalidInputError, UnsafeLoadError
from synaplex.lm.language_model import LanguageModel
from synaplex.programs.program import Program
from synaplex.serialization.safe_mode import CAPABILITIES
from synaplex.training import metrics as metrics_lib
from synaplex.training import optimizers as optimizers_lib
from synaplex.training import rewards as rewards_lib
from synaplex.training.lookup import UnknownIdentifierError


class CommandError(InvalidInputError):
    """A command cannot do what it was asked (the message says why and what to do)."""


def load_program(path: str, allow: tuple[str, ...] = (), unsafe: bool = False, model: str | None = None) -> Program:
    """Load a program file in safe mode (``allow`` names what it may do; ``unsafe`` turns
    safe mode off), then give every module the language model ``model`` when it is set."""
    if not os.path.exists(path):
        raise CommandError(f"Cannot load {path!r}: no such file.")
    try:
        program = Program.load(path, safe_mode=not unsafe, allow=tuple(allow))
    except UnsafeLoadError as error:
        capability = error.capability or "CAPABILITY"
        hint = f"If you trust this file, pass --allow {capability} (or --unsafe for everything)."
        message, found = re.subn(r"If you trust this file, load it with .*$", hint, str(error), flags=re.S)
        raise UnsafeLoadError(message if found else f"{message} {hint}", path=path, field=error.field,
                              capability=error.capability) from error
    if model is not None:
        replace_language_model(program, model)
    return program


def replace_language_model(program: Program, model: str) -> LanguageModel:
    """Give every module of ``program`` that has a language model the model ``model``."""
    language_model = LanguageModel(model=model)
    replaced = 0
    for module in program._all_modules():
        if isinstance(module, Program):
            continue
        if isinstance(getattr(module, "language_model", None), LanguageModel):
            module.language_model = language_model
            replaced += 1
    if not replaced:
        raise CommandError(f"--model {model}: the program {program.name!r} has no module with a language model.")
    return language_model


def parse_json(text: str, where: str) -> Any:
    """``text`` parsed as JSON, or a :class:`CommandError` saying where and what is wrong."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(f"{where} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}).") \
            from None


def read_json_lines(lines: Any, source: str) -> list[tuple[int, Any]]:
    """``(line number, value)`` of each non-blank line."""
    found = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            found.append((number, parse_json(line, f"{source} line {number}")))
    return found


def _fields(schema: Any) -> set[str]:
    return set(schema.get("properties", {})) if isinstance(schema, dict) else set()


def read_examples(path: str, program: Program) -> tuple[list, list]:
    """``(x, y)`` from a JSON Lines file: each line is ``{"input": {...}, "output": {...}}``, or
    one object whose fields are split between the program's input and output DataModels."""
    if not os.path.exists(path):
        raise CommandError(f"Cannot read {path!r}: no such file.")
    input_fields, output_fields = _fields(program.input_schema), _fields(program.output_schema)
    xs, ys = [], []
    with open(path, encoding="utf-8-sig") as file:
        records = read_json_lines(file, path)
    for number, record in records:
        where = f"{path} line {number}"
        if not isinstance(record, dict):
            raise CommandError(f"{where}: expected a JSON object, got {type(record).__name__}.")
        if set(record) == {"input", "output"} and not ({"input", "output"} & (input_fields | output_fields)):
            x, y = record["input"], record["output"]
        else:
            unknown = sorted(set(record) - input_fields - output_fields)
            if unknown:
                raise CommandError(
                    f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; the program's input fields are "
                    f"{sorted(input_fields)} and its output fields {sorted(output_fields)} (or write "
                    '{"input": {...}, "output": {...}}).')
            x = {k: v for k, v in record.items() if k in input_fields}
            y = {k: v for k, v in record.items() if k in output_fields}
        xs.append(x)
        ys.append(y)
    if not xs:
        raise CommandError(f"{path!r} holds no examples (one JSON object per line).")
    return xs, ys


_KINDS = {"reward": rewards_lib, "metric": metrics_lib, "optimizer": optimizers_lib}


def resolve(kind: str, identifier: str) -> Any:
    """The reward, metric or optimizer an id names; an unknown id's error suggests the
    closest valid ones."""
    library = _KINDS[kind]
    try:
        return library.get(identifier)
    except UnknownIdentifierError as error:
        names = library.LOOKUP.names
        close = difflib.get_close_matches(identifier, names, n=6, cutoff=0.5)
        close += [n for n in names if n.startswith(identifier.lower()) and n not in close]
        seen: dict[str, str] = {}
        for name in close:   # 'exact_match' and 'ExactMatch' are one suggestion
            seen.setdefault(name.replace("_", "").lower(), name)
        close = list(seen.values())
        if not close:
            raise
        message = str(error)
        hint = f" Did you mean {' or '.join(map(repr, close[:3]))}?"
        raise UnknownIdentifierError(message.replace(". Valid names:", "." + hint + " Valid names:", 1)) from None


def capabilities_help() -> str:
    return ", ".join(CAPABILITIES)
