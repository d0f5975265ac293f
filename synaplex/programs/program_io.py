"""Save and load programs and their variables as JSON files.

A program file is ``{"format": "synaplex.program", "synaplex_version", "program",
"variables"}``; a variables file is ``{"format": "synaplex.variables", "synaplex_version",
"variables"}``. Files are written atomically (a failed save leaves the old file intact),
and a load checks everything before it changes anything.
"""

from __future__ import annotations

import os
from typing import Any

import synaplex.serialization.safe_mode as safe_loading
from synaplex.backend.asyncio_utils import run_now
from synaplex.backend.errors import (
    InvalidInputError,
    SavingError,
    SynaplexError,
    UnknownClassError,
    UnsafeLoadError,
)
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.serialization import deserialize_synaplex_object, files, serialize_synaplex_object
from synaplex.version import __version__

PROGRAM_FORMAT = "synaplex.program"
VARIABLES_FORMAT = "synaplex.variables"


# --- files ------------------------------------------------------------------------------

def _major(version: str) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return -1


def _read(filepath: str, expected_format: str) -> dict:
    data = files.parse_json(files.read_text(filepath), filepath)
    if not isinstance(data, dict) or data.get("format") != expected_format:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise SavingError(
            f"Cannot load {filepath!r}: it is not a {expected_format} file (format: {found!r:.80}).",
            path=filepath,
        )
    version = data.get("synaplex_version")
    if version is None:
        raise SavingError(f"Cannot load {filepath!r}: it records no synaplex_version.", path=filepath)
    if _major(version) > _major(__version__):
        raise SavingError(
            f"Cannot load {filepath!r}: it was saved by synaplex {version}, a newer major version than "
            f"this one ({__version__}). Upgrade synaplex to load it.",
            path=filepath,
        )
    return data


def _filepath(filepath: Any) -> str:
    if not isinstance(filepath, (str, os.PathLike)):
        raise InvalidInputError(f"filepath must be a path, got {type(filepath).__name__}: {filepath!r:.80}.")
    return os.fspath(filepath)


def _variable_values(program) -> dict[str, dict]:
    return {path: variable.get_json() for path, variable in program._variable_items()}


def save_program(program, filepath: str) -> None:
    filepath = _filepath(filepath)
    data = {
        "format": PROGRAM_FORMAT,
        "synaplex_version": __version__,
        "program": serialize_synaplex_object(program),
        "variables": _variable_values(program),
    }
    if program._graph is not None and "nodes" not in data["program"]["config"]:
        data["build_input_schemas"] = [x.get_schema() for x in program._graph.inputs]
    if program._compiled:
        data["compile"] = program._compile_config()
    files.write_json_atomically(filepath, data)


def load_program(filepath: str, custom_objects: dict | None = None, *, safe_mode: bool = True,
                 allow: tuple = (), program_class: type):
    """Load a program file, which must hold a ``program_class``; safe by default (see
    :mod:`synaplex.serialization.safe_mode`)."""
    filepath = _filepath(filepath)
    safe_loading.check_policy(safe_mode, allow, custom_objects)
    data = _read(filepath, PROGRAM_FORMAT)
    with safe_loading.loading_scope(safe_mode=safe_mode, allow=allow, custom_objects=custom_objects,
                                    filepath=filepath, root=data):
        try:
            return _program_from_file_data(data, filepath, custom_objects, program_class)
        except UnsafeLoadError:
            raise
        except UnknownClassError as error:
            raise UnknownClassError(f"Cannot load {filepath!r}: {error}", path=filepath) from None
        except SavingError as error:
            if str(error).startswith(f"Cannot load {filepath!r}"):
                raise
            raise SavingError(f"Cannot load {filepath!r}: {error}", path=filepath) from None
        except (SynaplexError, RecursionError, MemoryError) as error:
            raise SavingError(f"Cannot load {filepath!r}: {type(error).__name__}: {error}",
                              path=filepath) from error


def _program_from_file_data(data: dict, filepath: str, custom_objects: dict | None, program_class: type):
    program = deserialize_synaplex_object(data.get("program"), custom_objects)
    if not isinstance(program, program_class):
        raise SavingError(f"Cannot load {filepath!r}: it holds a {type(program).__name__}, not a Program.",
                          path=filepath)
    schemas = data.get("build_input_schemas")
    if schemas and program._graph is None:
        if not isinstance(schemas, list) or not all(isinstance(s, dict) for s in schemas):
            raise SavingError(f"Cannot load {filepath!r}: 'build_input_schemas' must be a list of JSON schemas.",
                              path=filepath)
        symbolic = [SymbolicDataModel(schema=s) for s in schemas]
        args = (symbolic[0],) if len(symbolic) == 1 else (symbolic,)
        run_now(lambda: program._maybe_build(args, {}))
    _assign_variables(program, data.get("variables", {}), filepath)
    if data.get("compile"):
        if not isinstance(data["compile"], dict):
            raise SavingError(f"Cannot load {filepath!r}: 'compile' must be an object.", path=filepath)
        try:
            program._compile_from_config(data["compile"], custom_objects)
        except UnsafeLoadError:
            raise
        except (UnknownClassError, SavingError, KeyError) as error:
            raise SavingError(f"Cannot load {filepath!r}: its training setup: {error}", path=filepath) from None
    return program


def save_variables(program, filepath: str) -> None:
    files.write_json_atomically(_filepath(filepath), {
        "format": VARIABLES_FORMAT,
        "synaplex_version": __version__,
        "variables": _variable_values(program),
    })


def load_variables(program, filepath: str) -> None:
    """Load a variables file into ``program``. A variables file holds values only (no class,
    callable, endpoint or path), so there is nothing for safe mode to refuse."""
    filepath = _filepath(filepath)
    data = _read(filepath, VARIABLES_FORMAT)
    _assign_variables(program, data.get("variables"), filepath)


def _assign_variables(program, values: Any, filepath: str) -> None:
    if not isinstance(values, dict):
        raise SavingError(f"Cannot load {filepath!r}: 'variables' must be an object.", path=filepath)
    targets = dict(program._variable_items())
    unknown = sorted(set(values) - set(targets))
    missing = sorted(set(targets) - set(values))
    if unknown or missing:
        raise SavingError(
            f"Cannot load variables from {filepath!r} into program {program.name!r}: "
            + (f"the file has variables the program lacks: {unknown}. " if unknown else "")
            + (f"the program has variables the file lacks: {missing}. " if missing else "")
            + "Was the file saved from a program with the same structure?",
            path=filepath,
        )
    validated = {}
    for path, value in values.items():
        try:
            validated[path] = targets[path]._validate(value)
        except InvalidInputError as error:
            raise SavingError(f"Cannot load {filepath!r}: variable {path!r}: {error}", path=filepath) from None
    for path, value in validated.items():
        targets[path]._value = value
