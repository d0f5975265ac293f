"""``synaplex.utils``: plotting, registration and sync helpers."""

from synaplex.backend.asyncio_utils import run_sync  # noqa: F401
from synaplex.saving.serialization import register_synaplex_serializable  # noqa: F401
from synaplex.visualization.plot import plot_program  # noqa: F401
