"""``synaplex.saving``: the serialization registry and program files."""

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
    from synaplex.saving.program_io import save_program as _save

    _save(program, filepath)


def load_program(filepath, custom_objects=None, *, safe_mode=True, allow=()):
    """Load a program saved with ``program.save`` or :func:`save_program`.

    Safe by default: see ``Program.load`` and :mod:`synaplex.serialization.safe_mode`.
    """
    from synaplex.saving.program_io import load_program as _load

    return _load(filepath, custom_objects=custom_objects, safe_mode=safe_mode, allow=allow)

