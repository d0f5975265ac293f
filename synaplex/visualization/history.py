"""plot_history: the curves of a training run, as a PNG (matplotlib)."""

from __future__ import annotations

import os
from typing import Any

from synaplex.backend.errors import InvalidInputError, MissingDependencyError


def plot_history(history: Any, to_folder: str = ".", to_file: str | None = None, metrics: list[str] | None = None,
                 title: str | None = None, dpi: int = 100) -> str:
    """Plot each logged value per epoch (``reward`` with ``val_reward`` on one axis, each
    metric on its own) and save a PNG; returns its path.

    Args:
        history: the ``History`` that ``fit`` returns (or its ``history`` dict).
        to_folder, to_file: where to write (default ``<to_folder>/training_history.png``).
        metrics: the names to plot (default: reward and every metric with values, usage
            counters left out).

    Example:
        >>> history = await program.fit(x=x_train, y=y_train, epochs=3)
        >>> synaplex.utils.plot_history(history, to_folder="output")
    """
    values = getattr(history, "history", history)
    if not isinstance(values, dict) or not values:
        raise InvalidInputError(f"plot_history needs a History (or its non-empty history dict), got {history!r:.100}.")
    try:
        import matplotlib  # noqa: PLC0415 - optional: the plot extra

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt  # noqa: PLC0415 - optional: the plot extra
    except ImportError:
        raise MissingDependencyError('plot_history needs matplotlib: pip install "synaplex[plot]"') from None
    usage = ("_calls", "_tokens", "_cost", "errors")
    names = metrics or [k for k in values if not k.startswith("val_") and not k.endswith(usage)
                        and any(v is not None for v in values[k])]
    unknown = [n for n in names if n not in values]
    if unknown:
        raise InvalidInputError(f"plot_history: no values named {unknown}; the history has {sorted(values)}.")
    if not names:
        raise InvalidInputError(f"plot_history: nothing to plot in {sorted(values)}.")
    epochs = getattr(history, "epoch", None) or list(range(len(values[names[0]])))
    figure, axes = plt.subplots(len(names), 1, figsize=(6, 3 * len(names)), squeeze=False)
    for axis, name in zip(axes[:, 0], names):
        for key, style in ((name, "-o"), (f"val_{name}", "--s")):
            series = values.get(key)
            if series and any(v is not None for v in series):
                points = [(e + 1, v) for e, v in zip(epochs, series) if v is not None]
                axis.plot([p[0] for p in points], [p[1] for p in points], style, label=key)
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        axis.grid(True, alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    os.makedirs(to_folder, exist_ok=True)
    path = to_file if to_file and os.path.isabs(to_file) else os.path.join(to_folder, to_file or "training_history.png")
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path
