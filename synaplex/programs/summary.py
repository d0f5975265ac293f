"""``program.summary()``: a rich table of the program's modules."""

from __future__ import annotations

import io

from synaplex.backend import tree


def _output_schemas(program) -> dict[int, str]:
    """For a functional program: each module's output schema(s), by module id."""
    out: dict[int, str] = {}
    graph = program._graph
    if graph is None:
        return out
    for node in graph.nodes:
        described = []
        for symbolic in tree.flatten(node.outputs):
            schema = symbolic.get_schema()
            fields = ", ".join(schema.get("properties", {}))
            described.append(f"{schema.get('title') or 'object'}({fields})")
        out.setdefault(id(node.module), " | ".join(described))
    return out


def print_summary(program, print_fn=None) -> None:
    from rich.console import Console  # noqa: PLC0415 - heavy: loads when a summary is printed
    from rich.table import Table  # noqa: PLC0415 - heavy: loads when a summary is printed

    schemas = _output_schemas(program)
    title = f"Program: {program.name} ({type(program).__name__})"
    if program.description:
        title += f"\n{program.description}"
    table = Table(title=title, show_lines=False)
    table.add_column("Module", style="bold")
    table.add_column("Type")
    table.add_column("Output schema", overflow="fold")
    table.add_column("Trainable variables", justify="right")
    for module in program.modules:
        trainable = len(module.trainable_variables)
        table.add_row(module.name, type(module).__name__, schemas.get(id(module), "-"), str(trainable))
    variables = program.variables
    footer = (f"Total variables: {len(variables)} "
              f"(trainable: {len(program.trainable_variables)}, "
              f"non-trainable: {len(program.non_trainable_variables)})")
    if print_fn is None:
        console = Console()
        console.print(table)
        console.print(footer)
        return
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, force_terminal=False, color_system=None)
    console.print(table)
    console.print(footer)
    print_fn(buffer.getvalue())
