"""The JSON operators (``+ & | ^ ~ in`` and masks) as functions.

Each one works on DataModel instances, JsonDataModels, SymbolicDataModels and DataModel
classes. When an operand is symbolic the operation is recorded as a node of the program
(through its module twin: Concat, And, Or, Xor, Not, InMask, OutMask); otherwise it runs
on the values at once. This module is also the implementation of the data types' operator
dunders (see :mod:`synaplex.data.operators`).
"""

from __future__ import annotations

from typing import Any

from synaplex.backend.errors import DataModelTypeError, InvalidInputError
from synaplex.data import schema as schema_lib
from synaplex.data.data_model import DataModel, is_data_model_class
from synaplex.data.json_data_model import JsonDataModel
from synaplex.data.symbolic_data_model import SymbolicDataModel
from synaplex.modules import masking, merging

_VALUE_TYPES = (JsonDataModel, SymbolicDataModel, DataModel)


def _describe(x: Any) -> str:
    if x is None:
        return "None"
    if is_data_model_class(x):
        return f"DataModel class {x.__name__}"
    if isinstance(x, DataModel):
        return f"{type(x).__name__} instance"
    if isinstance(x, (JsonDataModel, SymbolicDataModel)):
        return f"{type(x).__name__}({x.get_schema().get('title', 'object')})"
    return f"{type(x).__name__} {x!r:.60}"


def _check_operands(symbol: str, x1: Any, x2: Any) -> None:
    for x in (x1, x2):
        if x is not None and not (isinstance(x, _VALUE_TYPES) or is_data_model_class(x)):
            raise DataModelTypeError(
                f"Unsupported operand for '{symbol}': {_describe(x1)} {symbol} {_describe(x2)}. "
                "JSON operators work between DataModels, JsonDataModels and SymbolicDataModels."
            )


def _symbolic(x: Any) -> bool:
    return isinstance(x, SymbolicDataModel) or is_data_model_class(x)


def _as_symbolic(x: Any) -> Any:
    if is_data_model_class(x):
        return x.to_symbolic_data_model()
    return x


def _as_json(x: Any) -> Any:
    if isinstance(x, DataModel):
        return x.to_json_data_model()
    return x


def _binary(symbol: str, module_cls_name: str, x1: Any, x2: Any, name: str | None,
            description: str | None = None):
    _check_operands(symbol, x1, x2)
    if _symbolic(x1) or _symbolic(x2):
        if x1 is None or x2 is None or not (_symbolic(x1) and _symbolic(x2)):
            if symbol == "+" or not (x1 is None or x2 is None):
                raise DataModelTypeError(
                    f"Cannot apply '{symbol}' to {_describe(x1)} and {_describe(x2)} while building a "
                    "program: both operands must be symbolic (outputs of Input or of modules)."
                )
            other = x1 if x2 is None else x2
            return None if symbol == "&" else _as_symbolic(other)
        module = getattr(merging, module_cls_name)(name=name, description=description)
        return module._symbolic_call_sync(([_as_symbolic(x1), _as_symbolic(x2)],), {})
    return None


def concat(x1: Any, x2: Any, name: str | None = None, description: str | None = None):
    """``x1 + x2``: all fields of both; raises when either is None."""
    out = _binary("+", "Concat", x1, x2, name, description)
    if out is not None or _symbolic(x1) or _symbolic(x2):
        return out
    if x1 is None or x2 is None:
        raise InvalidInputError(
            f"Cannot concatenate {_describe(x1)} + {_describe(x2)}: "
            f"{'the first' if x1 is None else 'the second'} operand is None. Use '&' (None if "
            "either is None) or '|' (the one that is not None) when an operand may be missing."
        )
    return concat_values(_as_json(x1), _as_json(x2))


def concat_values(x1: JsonDataModel, x2: JsonDataModel) -> JsonDataModel:
    new_schema, renames = schema_lib.concat_plan(x1.get_schema(), x2.get_schema())
    return JsonDataModel(json=schema_lib.concat_values(x1.get_json(), x2.get_json(), renames),
                         schema=new_schema)


def logical_and(x1: Any, x2: Any, name: str | None = None, description: str | None = None):
    """``x1 & x2``: the concatenation, or None when either is None."""
    if _symbolic(x1) or _symbolic(x2):
        return _binary("&", "And", x1, x2, name, description)
    _check_operands("&", x1, x2)
    if x1 is None or x2 is None:
        return None
    return concat_values(_as_json(x1), _as_json(x2))


def logical_or(x1: Any, x2: Any, name: str | None = None, description: str | None = None):
    """``x1 | x2``: the one that is not None; the concatenation when both are there."""
    if _symbolic(x1) or _symbolic(x2):
        return _binary("|", "Or", x1, x2, name, description)
    _check_operands("|", x1, x2)
    if x1 is None:
        return _as_json(x2)
    if x2 is None:
        return _as_json(x1)
    return concat_values(_as_json(x1), _as_json(x2))


def logical_xor(x1: Any, x2: Any, name: str | None = None, description: str | None = None):
    """``x1 ^ x2``: the one that is not None; None when both or neither are there."""
    if _symbolic(x1) or _symbolic(x2):
        return _binary("^", "Xor", x1, x2, name, description)
    _check_operands("^", x1, x2)
    if (x1 is None) == (x2 is None):
        return None
    return _as_json(x1 if x2 is None else x2)


def logical_not(x: Any, name: str | None = None, description: str | None = None):
    """``~x``: always None at run time (a stop condition); the same schema while tracing."""
    _check_operands("~", x, None)
    if _symbolic(x):
        return merging.Not(name=name, description=description)._symbolic_call_sync((_as_symbolic(x),), {})
    return None


def contains(outer: Any, inner: Any) -> bool:
    """``inner in outer``: every field of ``inner`` is in ``outer`` with the same type."""
    _check_operands("in", inner, outer)
    if inner is None or outer is None:
        return False
    return schema_lib.contains(outer.get_schema(), inner.get_schema())


def _mask(kind: str, x: Any, mask, recursive: bool, name: str | None, description: str | None = None):
    if not isinstance(mask, (list, tuple, set, frozenset)) or not all(isinstance(m, str) for m in mask):
        raise InvalidInputError(f"{kind} expects mask=[field names], e.g. mask=['answer']; got {mask!r}.")
    _check_operands(kind, x, None)
    module = getattr(masking, kind)(mask=list(mask), recursive=recursive, name=name, description=description)
    if _symbolic(x):
        return module._symbolic_call_sync((_as_symbolic(x),), {})
    if x is None:
        return None
    return module.apply(_as_json(x))


def in_mask(x: Any, mask=None, recursive: bool = True, name: str | None = None, description: str | None = None):
    """Keep only the fields named in ``mask``."""
    return _mask("InMask", x, mask, recursive, name, description)


def out_mask(x: Any, mask=None, recursive: bool = True, name: str | None = None, description: str | None = None):
    """Remove the fields named in ``mask``."""
    return _mask("OutMask", x, mask, recursive, name, description)
