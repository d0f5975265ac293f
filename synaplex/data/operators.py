"""The JSON operators (``+ & | ^ ~ in`` and masks) of DataModel, JsonDataModel and SymbolicDataModel.

On values an operator computes a new value; on symbolic operands (a SymbolicDataModel or a
DataModel class) it records a module (Concat, And, Or, Xor, Not, InMask, OutMask) in the
program's graph. Modules sit above data, so the implementation, :mod:`synaplex.modules.ops`,
is provided from above (see :mod:`synaplex.data`) and loaded on the first operator used.
"""

from __future__ import annotations

from synaplex.data import operators_implementation


class OperatorMixin:
    __slots__ = ()

    def __add__(self, other):
        return operators_implementation().concat(self, other)

    def __radd__(self, other):
        return operators_implementation().concat(other, self)

    def __and__(self, other):
        return operators_implementation().logical_and(self, other)

    def __rand__(self, other):
        return operators_implementation().logical_and(other, self)

    def __or__(self, other):
        return operators_implementation().logical_or(self, other)

    def __ror__(self, other):
        return operators_implementation().logical_or(other, self)

    def __xor__(self, other):
        return operators_implementation().logical_xor(self, other)

    def __rxor__(self, other):
        return operators_implementation().logical_xor(other, self)

    def __invert__(self):
        return operators_implementation().logical_not(self)

    def __contains__(self, other):
        if isinstance(other, str):
            return other in self.get_schema().get("properties", {})
        return operators_implementation().contains(self, other)

    def in_mask(self, mask, recursive=True):
        """Keep only the fields named in ``mask`` (see :class:`synaplex.InMask`)."""
        return operators_implementation().in_mask(self, mask=mask, recursive=recursive)

    def out_mask(self, mask, recursive=True):
        """Remove the fields named in ``mask`` (see :class:`synaplex.OutMask`)."""
        return operators_implementation().out_mask(self, mask=mask, recursive=recursive)
