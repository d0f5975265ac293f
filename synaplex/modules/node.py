"""A node of a program's graph: one call of a module on symbolic inputs."""

from __future__ import annotations

from typing import Any

from synaplex.backend import tree
from synaplex.data.symbolic_data_model import SymbolicDataModel


class Node:
    """Records ``module(*args, **kwargs) -> outputs`` made while tracing a program.

    ``inputs`` and ``outputs`` are the flat lists of SymbolicDataModels involved; each
    output remembers this node as its history.
    """

    __slots__ = ("module", "args", "kwargs", "inputs", "outputs", "output_structure")

    def __init__(self, module, args: tuple, kwargs: dict, outputs: Any):
        self.module = module
        self.args = args
        self.kwargs = kwargs
        self.inputs = [x for x in tree.flatten((args, kwargs)) if isinstance(x, SymbolicDataModel)]
        self.output_structure = outputs
        self.outputs = [x for x in tree.flatten(outputs) if isinstance(x, SymbolicDataModel)]
        for index, output in enumerate(self.outputs):
            output._history = (self, index)

    @property
    def parent_nodes(self) -> list[Node]:
        return [x._history[0] for x in self.inputs if x._history is not None]

    def __repr__(self):
        return f"Node(module={self.module.name!r})"
