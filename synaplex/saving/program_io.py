"""Save and load programs and their variables as JSON files.

A program file is ``{"format": "synaplex.program", "synaplex_version", "program",
"variables"}``; a variables file is ``{"format": "synaplex.variables", "synaplex_version",
"variables"}``. Files are written atomically (a failed save leaves the old file intact),
and a load checks everything before it changes anything.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from synaplex.backend import tree
from synaplex.backend.asyncio_utils import run_now
from synaplex.backend.errors import InvalidInputError, SavingError, UnknownClassError
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.modules.input import InputModule
from synaplex.saving.serialization import deserialize_synaplex_object, serialize_synaplex_object
from synaplex.version import __version__

PROGRAM_FORMAT = "synaplex.program"
VARIABLES_FORMAT = "synaplex.variables"


# --- the functional graph as JSON -------------------------------------------------------

def _encode(structure: Any, refs: dict[int, list[int]]) -> Any:
    if isinstance(structure, SymbolicDataModel):
        return {"__node__": refs[id(structure)]}
    if isinstance(structure, tuple):
        return {"__tuple__": [_encode(x, refs) for x in structure]}
    if isinstance(structure, list):
        return [_encode(x, refs) for x in structure]
    if isinstance(structure, dict):
        return {k: _encode(v, refs) for k, v in structure.items()}
    return serialize_synaplex_object(structure)


def _decode(data: Any, outputs: list[list]) -> Any:
    if isinstance(data, dict):
        if "__node__" in data:
            node_index, output_index = data["__node__"]
            return outputs[node_index][output_index]
        if "__tuple__" in data:
            return tuple(_decode(x, outputs) for x in data["__tuple__"])
        return {k: _decode(v, outputs) for k, v in data.items()}
    if isinstance(data, list):
        return [_decode(x, outputs) for x in data]
    return data


def functional_config(program) -> dict:
    graph = program._graph
    module_index = {id(m): i for i, m in enumerate(graph.modules)}
    refs: dict[int, list[int]] = {}
    nodes = []
    for node_index, node in enumerate(graph.nodes):
        entry: dict[str, Any] = {"module": module_index[id(node.module)]}
        if not isinstance(node.module, InputModule):
            entry["args"] = _encode(list(node.args), refs)
            entry["kwargs"] = _encode(node.kwargs, refs)
        nodes.append(entry)
        for output_index, output in enumerate(node.outputs):
            refs[id(output)] = [node_index, output_index]
    return {
        "name": program.name,
        "description": program.description,
        "trainable": program.trainable,
        "modules": [serialize_synaplex_object(m) for m in graph.modules],
        "nodes": nodes,
        "inputs": _encode(graph.inputs_structure, refs),
        "outputs": _encode(graph.outputs_structure, refs),
    }


def program_from_functional_config(config: dict, custom_objects: dict | None = None):
    from synaplex.programs.program import Program

    modules = [deserialize_synaplex_object(m, custom_objects) for m in config["modules"]]

    async def trace():
        outputs: list[list] = []
        for entry in config["nodes"]:
            module = modules[entry["module"]]
            if isinstance(module, InputModule):
                outputs.append([module.output])
                continue
            args = _decode(entry.get("args", []), outputs)
            kwargs = _decode(entry.get("kwargs", {}), outputs)
            result = await module._symbolic_call(tuple(args), kwargs)
            outputs.append([x for x in tree.flatten(result) if isinstance(x, SymbolicDataModel)])
        return _decode(config["inputs"], outputs), _decode(config["outputs"], outputs)

    inputs, outputs = run_now(trace)
    return Program(inputs=inputs, outputs=outputs, name=config.get("name"),
                   description=config.get("description"), trainable=config.get("trainable", True))


# --- files ------------------------------------------------------------------------------

def _write_atomically(filepath: str, data: dict) -> None:
    filepath = os.fspath(filepath)
    text = json.dumps(data, indent=2, ensure_ascii=False)
    directory = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".synaplex-", suffix=".json.tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _major(version: str) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return -1


def _read(filepath: str, expected_format: str) -> dict:
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise SavingError(f"Cannot load {filepath!r}: the file does not exist.", path=filepath)
    try:
        with open(filepath, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise SavingError(f"Cannot load {filepath!r}: the file cannot be read ({error}).", path=filepath) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        # An unterminated string runs to the end of the file; other errors at the very end
        # ("Expecting ',' delimiter", "Expecting value") also mean the text stops too early.
        truncated = error.msg.startswith("Unterminated") or error.pos >= len(text.rstrip())
        hint = " The file looks truncated." if truncated else ""
        raise SavingError(
            f"Cannot load {filepath!r}: it is not valid JSON ({error.msg} at line {error.lineno}, "
            f"column {error.colno}).{hint}",
            path=filepath,
        ) from None
    if not isinstance(data, dict) or data.get("format") != expected_format:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise SavingError(
            f"Cannot load {filepath!r}: it is not a {expected_format} file (format: {found!r}).",
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


def _variable_values(program) -> dict[str, dict]:
    return {path: variable.get_json() for path, variable in program._variable_items()}


def save_program(program, filepath: str) -> None:
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
    _write_atomically(filepath, data)


def load_program(filepath: str, custom_objects: dict | None = None):
    from synaplex.programs.program import Program

    data = _read(filepath, PROGRAM_FORMAT)
    try:
        program = deserialize_synaplex_object(data.get("program"), custom_objects)
    except UnknownClassError as error:
        raise UnknownClassError(f"Cannot load {os.fspath(filepath)!r}: {error}", path=os.fspath(filepath)) from None
    except SavingError as error:
        raise SavingError(f"Cannot load {os.fspath(filepath)!r}: {error}", path=os.fspath(filepath)) from None
    if not isinstance(program, Program):
        raise SavingError(f"Cannot load {os.fspath(filepath)!r}: it holds a {type(program).__name__}, not a Program.",
                          path=os.fspath(filepath))
    schemas = data.get("build_input_schemas")
    if schemas and program._graph is None:
        symbolic = [SymbolicDataModel(schema=s) for s in schemas]
        args = (symbolic[0],) if len(symbolic) == 1 else (symbolic,)
        run_now(lambda: program._maybe_build(args, {}))
    _assign_variables(program, data.get("variables", {}), os.fspath(filepath))
    if data.get("compile"):
        try:
            program._compile_from_config(data["compile"], custom_objects)
        except (UnknownClassError, SavingError) as error:
            raise SavingError(f"Cannot load {os.fspath(filepath)!r}: its training setup: {error}",
                              path=os.fspath(filepath)) from None
    return program


def save_variables(program, filepath: str) -> None:
    _write_atomically(filepath, {
        "format": VARIABLES_FORMAT,
        "synaplex_version": __version__,
        "variables": _variable_values(program),
    })


def load_variables(program, filepath: str) -> None:
    data = _read(filepath, VARIABLES_FORMAT)
    _assign_variables(program, data.get("variables"), os.fspath(filepath))


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
