"""``synaplex.utils``: plotting, registration and sync helpers."""

from synaplex.backend.asyncio_utils import run_sync  # noqa: F401
from synaplex.serialization import register_synaplex_serializable  # noqa: F401
from synaplex.visualization.history import plot_history as _plot_history
from synaplex.visualization.plot import plot_program as _plot_program


def plot_program(program, to_folder=".", **kwargs):
    """Draw ``program``'s graph (see :func:`synaplex.visualization.plot.plot_program`)."""
    return _plot_program(program, to_folder=to_folder, **kwargs)


def plot_history(history, to_folder=".", **kwargs):
    """Plot a training ``History`` to a PNG (see :func:`synaplex.visualization.history.plot_history`)."""
    return _plot_history(history, to_folder=to_folder, **kwargs)
