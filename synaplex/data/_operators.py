"""The operator dunders shared by DataModel instances, JsonDataModel and SymbolicDataModel.

The work is done by :mod:`synaplex.modules.ops`, imported on first use: it decides whether
the call is symbolic (records a node in the graph) or runs on values.
"""

from __future__ import annotations


def _ops():
    from synaplex.modules import ops

    return ops


class OperatorMixin:
    __slots__ = ()

    def __add__(self, other):
        return _ops().concat(self, other)

    def __radd__(self, other):
        return _ops().concat(other, self)

    def __and__(self, other):
        return _ops().logical_and(self, other)

    def __rand__(self, other):
        return _ops().logical_and(other, self)

    def __or__(self, other):
        return _ops().logical_or(self, other)

    def __ror__(self, other):
        return _ops().logical_or(other, self)

    def __xor__(self, other):
        return _ops().logical_xor(self, other)

    def __rxor__(self, other):
        return _ops().logical_xor(other, self)

    def __invert__(self):
        return _ops().logical_not(self)

    def __contains__(self, other):
        if isinstance(other, str):
            return other in self.get_schema().get("properties", {})
        return _ops().contains(self, other)

    def in_mask(self, mask, recursive=True):
        """Keep only the fields named in ``mask`` (see :class:`synaplex.InMask`)."""
        return _ops().in_mask(self, mask=mask, recursive=recursive)

    def out_mask(self, mask, recursive=True):
        """Remove the fields named in ``mask`` (see :class:`synaplex.OutMask`)."""
        return _ops().out_mask(self, mask=mask, recursive=recursive)
