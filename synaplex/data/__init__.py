"""Typed JSON values: DataModel, JsonDataModel, SymbolicDataModel, Variable, and schema operations.

Their JSON operators (``+ & | ^ ~ in``, masks) record modules in a program's graph when an
operand is symbolic, so they are implemented a layer above, in ``synaplex.modules.ops``. The
package root provides that implementation (:func:`provide_operators`) without importing it, and
it loads on the first operator used (see :mod:`synaplex.data.operators`).
"""

_operators_loader = None
_operators = None


def provide_operators(loader):
    """Say how to load the operators' implementation (called once, by ``synaplex/__init__.py``)."""
    global _operators_loader, _operators
    _operators_loader, _operators = loader, None


def operators_implementation():
    """The module that implements the operators (``concat``, ``logical_and``…), loaded on first use."""
    global _operators
    if _operators is None:
        _operators = _operators_loader()
    return _operators
