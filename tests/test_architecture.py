"""The package's structure, checked on every run (see ARCHITECTURE.md).

* import-linter's contracts (pyproject.toml, ``[tool.importlinter]``): the layers, imports
  pointing down; the provider adapters independent; optional extras entering at one module;
* ruff (``[tool.ruff]``): lint, import order, and no import inside a function unless marked;
* no import cycle among synaplex's modules, imports inside functions included.
"""

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import synaplex
from synaplex.serialization import deserialize_synaplex_object

ROOT = Path(__file__).resolve().parents[1]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_contracts_are_kept():
    result = run(sys.executable, "-c", "from importlinter.cli import lint_imports_command as lint; lint(['--no-cache'])")
    assert result.returncode == 0, f"lint-imports failed:\n{result.stdout}\n{result.stderr}"


def test_ruff_is_clean():
    result = run(sys.executable, "-m", "ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, f"ruff check failed:\n{result.stdout}\n{result.stderr}"


def _ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def import_graph() -> dict[str, set[str]]:
    """Each synaplex module -> the synaplex modules that importing it imports.

    grimp records every import statement, those inside functions included (not those under
    ``if TYPE_CHECKING``). Importing ``a.b.c`` also runs the ``__init__`` of the packages
    ``a`` and ``a.b``: an edge to each of them is added, unless the importer is inside it.
    """
    graph = grimp.build_graph("synaplex", exclude_type_checking_imports=True, cache_dir=None)
    edges = {}
    for module in graph.modules:
        direct = set(graph.find_modules_directly_imported_by(module))
        packages = {p for imported in direct for p in _ancestors(imported)} - _ancestors(module) - {module}
        edges[module] = direct | packages
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), and self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # iterative: no recursion limit on deep graphs
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    found.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def test_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_synaplex_modules():
    edges = import_graph()
    assert len(edges) > 100 and "synaplex.programs.program" in edges
    found = cycles(edges)
    described = "\n".join(
        " <-> ".join(component) + "\n    " + "\n    ".join(
            f"{m} imports {', '.join(sorted(edges[m] & set(component)))}" for m in component)
        for component in found)
    assert found == [], f"import cycles among synaplex modules:\n{described}"


@pytest.mark.parametrize("module, class_name, config", [
    ("synaplex.training.rewards", "ExactMatch", {"name": "exact_match", "in_mask": ["answer"], "out_mask": None}),
    ("synaplex.training.metrics", "F1Score", {"name": "f1_score", "in_mask": None, "out_mask": None,
                                              "average": "micro"}),
])
def test_configs_saved_before_the_split_still_load(module, class_name, config):
    saved = {"module": module, "class_name": class_name, "registered_name": None, "config": config}
    loaded = deserialize_synaplex_object(saved)
    assert type(loaded).__name__ == class_name and loaded.name == config["name"]
    assert synaplex.saving.serialize_synaplex_object(loaded) == saved
