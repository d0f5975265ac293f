"""plot_program: a program's graph as Graphviz DOT, rendered to PNG when ``dot`` is installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
from typing import TYPE_CHECKING

from synaplex.backend.errors import InvalidInputError, ProgramBuildError, SynaplexError

if TYPE_CHECKING:
    from synaplex.modules.module import Module
    from synaplex.programs.program import Program

_RANKDIRS = ("TB", "LR", "BT", "RL")
_TRAINABLE_FILL = "#dbeafe"


def _quote(text: str) -> str:
    """``text`` as a double-quoted DOT string that Graphviz shows literally.

    Every backslash is doubled so that Graphviz's label escapes (``\\N``, ``\\l``, ...)
    never fire on user text; real line breaks become ``\\n``.
    """
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{escaped}"'


def _label(lines: list[str]) -> str:
    # Lines are escaped one by one, then joined with DOT's own (unescaped) line break.
    return '"' + "\\n".join(_quote(line)[1:-1] for line in lines) + '"'


def _schema_line(schema: dict) -> str:
    fields = ", ".join(schema.get("properties", {}))
    return f"{schema.get('title') or 'object'}({fields})"


def _default_filename(name: str) -> str:
    # A program name may hold path separators or spaces; keep the file in to_folder.
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "program"


def program_to_dot(program: Program, show_module_names: bool = True, show_schemas: bool = False,
                   show_trainable: bool = False, rankdir: str = "TB") -> str:
    """The Graphviz DOT text of ``program``'s graph (see :func:`plot_program`)."""
    graph = program._graph
    if graph is None:
        raise ProgramBuildError(
            f"plot_program needs a functional, sequential or mixed program that has been built; "
            f"program {program.name!r} ({type(program).__name__}) has no graph yet. Subclassed "
            "programs with a custom call() cannot be plotted; mixed programs (and Sequential "
            "programs without an Input) are built on their first call, so call them once first."
        )
    if rankdir not in _RANKDIRS:
        raise InvalidInputError(f"rankdir must be one of {', '.join(_RANKDIRS)}; got {rankdir!r}.")

    schemas: dict[int, list[str]] = {}
    edges: list[tuple[str, str]] = []
    for node in graph.nodes:
        described = schemas.setdefault(id(node.module), [])
        for output in node.outputs:
            line = _schema_line(output.get_schema())
            if line not in described:
                described.append(line)
        for symbolic in node.inputs:
            edge = (symbolic._history[0].module.name, node.module.name)
            if edge not in edges:
                edges.append(edge)

    lines = [
        f"digraph {_quote(program.name)} {{",
        f'  graph [rankdir={rankdir}, label={_quote(program.name)}, labelloc=t, fontname="Helvetica"];',
        '  node [shape=box, style="rounded", fontname="Helvetica"];',
        '  edge [fontname="Helvetica"];',
    ]
    for module in program.modules:
        attributes = _node_attributes(module, schemas.get(id(module), []), show_module_names,
                                      show_schemas, show_trainable)
        lines.append(f"  {_quote(module.name)} [{attributes}];")
    for source, target in edges:
        lines.append(f"  {_quote(source)} -> {_quote(target)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node_attributes(module: Module, schema_lines: list[str], show_module_names: bool,
                     show_schemas: bool, show_trainable: bool) -> str:
    type_name = type(module).__name__
    label = [module.name, f"({type_name})"] if show_module_names else [type_name]
    if show_schemas:
        label.extend(schema_lines)
    style = ""
    if show_trainable:
        count = len(module.trainable_variables)
        label.append(f"trainable variables: {count}")
        if count:
            style = f', style="rounded,filled,bold", fillcolor="{_TRAINABLE_FILL}"'
    return f"label={_label(label)}{style}"


def plot_program(program: Program, to_folder: str | os.PathLike = ".", show_module_names: bool = True,
                 show_schemas: bool = False, show_trainable: bool = False, filename: str | None = None,
                 rankdir: str = "TB") -> str:
    """Draw ``program``'s graph: one box per module, one arrow per data flow.

    Always writes ``<to_folder>/<filename or program.name>.dot``. When Graphviz's ``dot`` is on
    the PATH it also renders ``<name>.png`` and returns that path; otherwise it warns with the
    command to render the DOT file and returns the ``.dot`` path.

    Args:
        program: A functional, sequential or (already called) mixed program.
        to_folder: Folder for the files; created if missing.
        show_module_names: Show each module's name above its type.
        show_schemas: Show each module's output schema title and field names.
        show_trainable: Show each module's number of trainable variables and fill the
            boxes of trainable modules.
        filename: Base name of the files (a trailing ``.dot`` or ``.png`` is dropped);
            defaults to the program's name.
        rankdir: Graphviz layout direction: ``"TB"`` (top to bottom), ``"LR"``, ``"BT"`` or ``"RL"``.

    Returns:
        The path of the PNG, or of the DOT file when ``dot`` is not installed.

    Example:
        >>> inputs = synaplex.Input(data_model=Query)
        >>> outputs = await synaplex.Generator(data_model=Answer, language_model=lm)(inputs)
        >>> program = synaplex.Program(inputs=inputs, outputs=outputs, name="simple_qa")
        >>> synaplex.utils.plot_program(program, to_folder="plots", show_schemas=True)
        'plots/simple_qa.png'
    """
    text = program_to_dot(program, show_module_names=show_module_names, show_schemas=show_schemas,
                          show_trainable=show_trainable, rankdir=rankdir)
    base = filename if filename is not None else _default_filename(program.name)
    for extension in (".dot", ".png"):
        if base.endswith(extension):
            base = base[: -len(extension)]
    os.makedirs(to_folder, exist_ok=True)
    dot_path = os.path.join(os.fspath(to_folder), f"{base}.dot")
    png_path = os.path.join(os.fspath(to_folder), f"{base}.png")
    with open(dot_path, "w", encoding="utf-8") as file:
        file.write(text)

    dot = shutil.which("dot")
    if dot is None:
        warnings.warn(
            f"Graphviz's `dot` was not found on the PATH, so only the DOT file {dot_path} was "
            f"written. Render it with: dot -Tpng {dot_path} -o {png_path} (install Graphviz with "
            "`apt-get install graphviz` or `brew install graphviz`).",
            UserWarning,
            stacklevel=2,
        )
        return dot_path
    command = [dot, "-Tpng", dot_path, "-o", png_path]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as error:
        raise SynaplexError(
            f"Graphviz failed to render {dot_path} (command: {' '.join(command)}; exit status "
            f"{error.returncode}): {(error.stderr or '').strip() or 'no error output'}"
        ) from None
    except OSError as error:
        raise SynaplexError(f"Could not run Graphviz ({' '.join(command)}): {error}") from None
    return png_path
