"""History: each epoch's logs, recorded by every ``fit``."""

from __future__ import annotations

from synaplex.training.callbacks.callback import Callback


class History(Callback):
    """Records each epoch's logs; ``fit`` adds one and returns it.

    Attributes:
        history: ``{name: [value per epoch]}``. Every list has one entry per recorded epoch:
            a name that appears late (or is missing at some epoch) holds ``None`` there.
        epoch: the epochs recorded (counting from 0).
        stop_reason: why training stopped early (copied from ``program.stop_reason`` at the
            end of training), or ``None``.
        selection: what the comparison of candidates on the selection set found (set by
            ``fit``): ``{"start", "best", "gain", "winner", "examples", "measured", "size",
            "source"}``: the starting point's and the winner's rewards there, their
            difference, the winner's label (``"the starting point"``, ``"epoch 1, step 2,
            example set 3"``...), its number of few-shot examples, how many candidates were
            measured, and the selection set's size and source (``"validation"``,
            ``"held_out"``, ``"training"``).

    Unlike Keras, ``on_train_begin`` does not clear ``epoch``: a History lives for one
    ``fit`` (``fit`` creates a fresh one), and a run resumed by :class:`BackupAndRestore`
    has its history restored before this callback's ``on_train_begin`` runs.
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self.stop_reason: str | None = None
        self.selection: dict | None = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        recorded = len(self.epoch)
        self.epoch.append(epoch)
        for key, values in self.history.items():
            if key not in logs:
                values.append(None)
        for key, value in logs.items():
            if key in self.history:
                self.history[key].append(value)
            else:
                self.history[key] = [None] * recorded + [value]

    def on_train_end(self, logs=None):
        reason = getattr(self.program, "stop_reason", None)
        if reason:
            self.stop_reason = reason

    def __repr__(self):
        return f"<History epochs={len(self.epoch)} keys={sorted(self.history)}>"
