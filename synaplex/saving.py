"""``synaplex.saving``: save and load programs, and the serialization registry.

The registry, safe mode and durable files live in :mod:`synaplex.serialization` (a layer
every other one uses); this namespace gathers them with the program files for users.
"""

from synaplex.programs import program_io
from synaplex.programs.program import Program
from synaplex.serialization import files, safe_mode  # noqa: F401
from synaplex.serialization.registry import (  # noqa: F401
    deserialize_synaplex_object,
    get_registered_name,
    get_registered_object,
    register_synaplex_serializable,
    serialize_synaplex_object,
)
from synaplex.serialization.safe_mode import CAPABILITIES  # noqa: F401


def save_program(program, filepath):
    """Save ``program`` (architecture and variables) to a JSON file."""
    program_io.save_program(program, filepath)


def load_program(filepath, custom_objects=None, *, safe_mode=True, allow=()):  # noqa: F811 (the argument)
    """Load a program saved with ``program.save`` or :func:`save_program`.

    Safe by default: see ``Program.load`` and :mod:`synaplex.serialization.safe_mode`.
    """
    return Program.load(filepath, custom_objects=custom_objects, safe_mode=safe_mode, allow=allow)
