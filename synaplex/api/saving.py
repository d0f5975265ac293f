"""``synaplex.saving``: the serialization registry and program files."""

from synaplex.saving.program_io import load_program, save_program  # noqa: F401
from synaplex.saving.serialization import (  # noqa: F401
    deserialize_synaplex_object,
    get_registered_name,
    get_registered_object,
    register_synaplex_serializable,
    serialize_synaplex_object,
)
