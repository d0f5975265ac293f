"""Serialization: objects as JSON configs and back, safely, and JSON files written durably.

Every layer above uses it (a module's, a model's or a reward's ``get_config``/``from_config``);
it knows nothing of them. Users reach it through the public namespace ``synaplex.saving``.

* :mod:`~synaplex.serialization.registry`: ``serialize_synaplex_object``,
  ``deserialize_synaplex_object`` and the registry of user classes and functions;
* :mod:`~synaplex.serialization.safe_mode`: the policy of a load (what a file may do);
* :mod:`~synaplex.serialization.files`: atomic, fsynced JSON writes and bounded reads.
"""

from synaplex.serialization import files, safe_mode
from synaplex.serialization.registry import (
    deserialize_data_model,
    deserialize_synaplex_object,
    find_callable,
    get_registered_name,
    get_registered_object,
    register_synaplex_serializable,
    serialize_data_model,
    serialize_synaplex_object,
)

__all__ = [
    "deserialize_data_model",
    "deserialize_synaplex_object",
    "files",
    "find_callable",
    "get_registered_name",
    "get_registered_object",
    "register_synaplex_serializable",
    "safe_mode",
    "serialize_data_model",
    "serialize_synaplex_object",
]
