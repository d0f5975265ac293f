"""plot_history: a PNG of the training curves, and its errors."""

import pytest

import synaplex
from synaplex.errors import InvalidInputError
from synaplex.training.callbacks import History


def history_of(values):
    history = History()
    history.epoch = list(range(len(next(iter(values.values())))))
    history.history = values
    return history


def test_plot_history_writes_a_png_of_reward_and_metrics(tmp_path):
    history = history_of({"reward": [0.2, 0.5, 0.7], "val_reward": [0.1, 0.4, None], "f1_score": [0.3, 0.6, 0.8],
                          "inference_calls": [10, 20, 30], "total_cost": [None, None, None]})
    path = synaplex.utils.plot_history(history, to_folder=str(tmp_path))
    assert path == str(tmp_path / "training_history.png")
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    height, width, _ = matplotlib.image.imread(path).shape
    assert (width, height) == (600, 600)  # two panels (reward, f1_score): usage counters are left out


def test_plot_history_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="needs a History"):
        synaplex.utils.plot_history({}, to_folder=str(tmp_path))
    with pytest.raises(InvalidInputError, match=r"no values named \['accuracy'\]; the history has \['reward'\]"):
        synaplex.utils.plot_history(history_of({"reward": [1.0]}), to_folder=str(tmp_path), metrics=["accuracy"])
