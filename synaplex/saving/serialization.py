"""Until synaplex/lm imports :mod:`synaplex.serialization` (being edited; issue 12), its old path."""

from synaplex.serialization.registry import (  # noqa: F401
    deserialize_synaplex_object,
    find_callable,
    serialize_synaplex_object,
)
