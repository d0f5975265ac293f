"""``synaplex.ops``: the JSON operators as functions (see :mod:`synaplex.modules.ops`)."""

from synaplex.modules.ops import (  # noqa: F401
    concat,
    contains,
    in_mask,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    out_mask,
)
