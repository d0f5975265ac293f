"""Training callbacks, driven by a small fake training loop that calls the hooks in Keras
order with hand-made logs (the contract Program.fit follows), and a real scripted Program
where one is needed (saving, restoring variables)."""

import csv
import io
import json
import logging
import os
import stat
import subprocess
import sys

import pytest

import synaplex
from synaplex.backend.errors import InvalidInputError, SavingError
from synaplex.training.callbacks import (
    BackupAndRestore,
    BudgetStopping,
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    ProgbarLogger,
    ProgramCheckpoint,
)
from synaplex.training.callbacks import progbar_logger as callbacks_lib
from tests.conftest import Answer, Query, scripted

# --- a fake trainer ---------------------------------------------------------------------


class FakeProgram:
    """What callbacks touch on a program: the stop flags, and (for BackupAndRestore) the
    training state."""

    def __init__(self):
        self.stop_training = False
        self.stop_reason = None
        self._training_finished = False
        self.state = {"epoch": 0, "batch": 0, "history": []}
        self.restored = []

    def _training_state(self):
        return json.loads(json.dumps(self.state))

    def _restore_training_state(self, state):
        self.restored.append(json.loads(json.dumps(state)))
        self.state = state


def usage_logs(calls, tokens, cost, before):
    """total_* and batch_* logs after a batch spending (calls, tokens, cost)."""
    total = {"calls": before["calls"] + calls, "tokens": before["tokens"] + tokens,
             "cost": None if cost is None or before["cost"] is None else before["cost"] + cost}
    before.update(total)
    return {"total_calls": total["calls"], "total_tokens": total["tokens"], "total_cost": total["cost"],
            "batch_calls": calls, "batch_tokens": tokens, "batch_cost": cost}


def fake_fit(callbacks, program=None, epochs=3, steps=2, epoch_logs=None, batch_usage=(4, 100, 0.01),
             fail_at=None, verbose=1, add_history=True, add_progbar=False, on_train_end_always=True):
    """Drive ``callbacks`` the way Program.fit does.

    epoch_logs: ``f(epoch) -> dict`` of the epoch's values (reward, metrics, val_*).
    batch_usage: (calls, tokens, cost) spent by each batch.
    fail_at: ``(epoch, batch)`` where the run raises (an interruption).
    Returns the CallbackList and the batches run, as ``(epoch, batch)``.
    """
    program = program if program is not None else FakeProgram()
    program.stop_training, program.stop_reason, program._training_finished = False, None, False
    callback_list = CallbackList(callbacks, add_history=add_history, add_progbar=add_progbar, program=program,
                                 epochs=epochs, steps=steps, verbose=verbose)
    epoch_logs = epoch_logs or (lambda epoch: {"reward": 0.5})
    spent = {"calls": 0, "tokens": 0, "cost": 0.0}
    ran = []
    callback_list.on_train_begin({})
    start_epoch, start_batch = 0, 0
    if program.__class__ is FakeProgram and program.restored:
        start_epoch, start_batch = program.state["epoch"], program.state["batch"]
    try:
        epoch = start_epoch
        while epoch < epochs and not program.stop_training:
            callback_list.on_epoch_begin(epoch, {})
            values = epoch_logs(epoch)
            for batch in range(start_batch, steps):
                if fail_at == (epoch, batch):
                    raise RuntimeError("interrupted")
                callback_list.on_train_batch_begin(batch, {})
                ran.append((epoch, batch))
                if isinstance(program, FakeProgram):
                    program.state.update(epoch=epoch, batch=batch + 1)
                    program.state["history"].append([epoch, batch])
                logs = {"reward": values.get("reward"), **usage_logs(*batch_usage, spent)}
                callback_list.on_train_batch_end(batch, logs)
                if program.stop_training:
                    break
            start_batch = 0
            if isinstance(program, FakeProgram):
                program.state.update(epoch=epoch + 1, batch=0)
            logs = dict(values)
            for phase in ("inference", "optimizer"):
                logs.update({f"{phase}_calls": spent["calls"], f"{phase}_tokens": spent["tokens"],
                             f"{phase}_cost": spent["cost"]})
            logs.update({"total_calls": spent["calls"], "total_tokens": spent["tokens"],
                         "total_cost": spent["cost"]})
            callback_list.on_epoch_end(epoch, logs)
            epoch += 1
        program._training_finished = True
    finally:
        if program._training_finished or on_train_end_always:
            callback_list.on_train_end({})
    return callback_list, ran


def rewards_by_epoch(*values, key="val_reward"):
    return lambda epoch: {"reward": 0.5, key: values[epoch]}


async def tiny_program():
    inputs = synaplex.Input(data_model=Query)
    outputs = await synaplex.Generator(data_model=Answer, language_model=scripted({"answer": "x"}))(inputs)
    return synaplex.Program(inputs=inputs, outputs=outputs, name="tiny")


def set_instructions(program, text):
    variable = program.trainable_variable_items()[0][1]
    variable.assign({**variable.get_json(), "instructions": text})


def instructions(program):
    return program.trainable_variable_items()[0][1]["instructions"]


# --- Callback and CallbackList -------------------------------------------------------------


class Recorder(Callback):
    def __init__(self, name, calls):
        super().__init__()
        self.name, self.calls = name, calls

    def on_train_begin(self, logs=None):
        self.calls.append((self.name, "train_begin"))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append((self.name, "epoch_end", epoch))

    def on_batch_end(self, batch, logs=None):  # Keras' old name, reached through on_train_batch_end
        self.calls.append((self.name, "batch_end", batch))


def test_callback_base_hooks_are_no_ops_and_params_are_set():
    callback = Callback()
    assert callback.program is None and callback.params == {}
    for hook in ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
                 "on_predict_end"):
        assert getattr(callback, hook)({}) is None
    for hook in ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
                 "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"):
        assert getattr(callback, hook)(0, {}) is None
    program = FakeProgram()
    callback.set_program(program)
    callback.set_params({"epochs": 2, "steps": 3, "verbose": 0})
    assert callback.program is program and callback.model is program
    assert callback.params == {"epochs": 2, "steps": 3, "verbose": 0}


def test_callback_list_dispatches_in_order_and_adds_defaults_last():
    calls = []
    first, second = Recorder("a", calls), Recorder("b", calls)
    program = FakeProgram()
    callback_list = CallbackList([first, [second]], add_history=True, add_progbar=True, program=program,
                                 epochs=2, steps=1, verbose=0)
    kinds = [type(c) for c in callback_list.callbacks]
    assert kinds == [Recorder, Recorder, History, ProgbarLogger]  # Keras 3: History, then the progress bar
    assert all(c.program is program for c in callback_list)
    assert all(c.params == {"epochs": 2, "steps": 1, "verbose": 0} for c in callback_list)
    callback_list.on_train_begin({})
    callback_list.on_train_batch_end(0, {"reward": 1.0})
    callback_list.on_epoch_end(0, {"reward": 1.0})
    assert calls == [("a", "train_begin"), ("b", "train_begin"), ("a", "batch_end", 0), ("b", "batch_end", 0),
                     ("a", "epoch_end", 0), ("b", "epoch_end", 0)]


def test_callback_list_keeps_the_users_history_and_progbar():
    history, progbar = History(), ProgbarLogger(verbose=0)
    callback_list = CallbackList([progbar, history], add_history=True, add_progbar=True)
    assert callback_list.callbacks == [progbar, history]
    assert CallbackList(None).callbacks == []


def test_callback_list_rejects_what_is_not_a_callback_instance():
    with pytest.raises(InvalidInputError, match=r"class EarlyStopping: pass EarlyStopping\(\.\.\.\)"):
        CallbackList([EarlyStopping])
    with pytest.raises(InvalidInputError, match="Callback instances; got function"):
        CallbackList([lambda epoch, logs: None])


def test_lambda_callback():
    seen = []
    callback = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, logs["reward"])),
                              on_train_end=lambda logs: seen.append("end"))
    fake_fit([callback], epochs=2, epoch_logs=lambda epoch: {"reward": epoch / 2})
    assert seen == [(0, 0.0), (1, 0.5), "end"]
    with pytest.raises(InvalidInputError, match="unknown hooks"):
        LambdaCallback(on_epoch_finish=print)


# --- History ------------------------------------------------------------------------------


def test_history_records_each_epoch():
    callback_list, ran = fake_fit([], epochs=3, steps=2,
                                  epoch_logs=lambda e: {"reward": 0.1 * (e + 1), "f1_score": 0.2 * (e + 1)})
    history = next(c for c in callback_list.callbacks if isinstance(c, History))
    assert history.epoch == [0, 1, 2]
    assert history.history["reward"] == pytest.approx([0.1, 0.2, 0.3])
    assert history.history["f1_score"] == pytest.approx([0.2, 0.4, 0.6])
    assert history.history["total_calls"] == [8, 16, 24]  # 2 batches of 4 calls per epoch
    assert history.history["total_cost"] == pytest.approx([0.02, 0.04, 0.06])
    assert history.stop_reason is None
    assert len(ran) == 6


def test_history_aligns_names_that_appear_late_or_go_missing():
    history = History()
    history.on_epoch_end(0, {"reward": 0.5})
    history.on_epoch_end(1, {"reward": 0.6, "val_reward": 0.4})
    history.on_epoch_end(2, {"val_reward": 0.7})
    assert history.history == {"reward": [0.5, 0.6, None], "val_reward": [None, 0.4, 0.7]}
    assert history.epoch == [0, 1, 2]


def test_history_copies_the_stop_reason():
    program = FakeProgram()
    history = History()
    history.set_program(program)
    program.stop_reason = "budget reached"
    history.on_train_end({})
    assert history.stop_reason == "budget reached"


# --- CSVLogger ----------------------------------------------------------------------------


def read_csv(path, separator=","):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file, delimiter=separator))


def test_csv_logger_writes_a_header_and_a_row_per_epoch(tmp_path):
    path = tmp_path / "logs" / "training.csv"
    logs = lambda e: {"reward": 0.25 * (e + 1), "val_reward": 0.5, "accuracy": 1.0}
    fake_fit([CSVLogger(path)], epochs=2, steps=1, epoch_logs=logs)
    rows = read_csv(path)
    header = rows[0]
    assert header[0] == "epoch"
    assert header[1:] == sorted(header[1:])
    assert {"reward", "val_reward", "accuracy", "total_cost", "inference_calls"} <= set(header)
    assert len(rows) == 3
    first = dict(zip(header, rows[1]))
    second = dict(zip(header, rows[2]))
    assert first["epoch"] == "0" and second["epoch"] == "1"
    assert float(first["reward"]) == 0.25 and float(second["reward"]) == 0.5
    assert second["total_calls"] == "8"


def test_csv_logger_none_late_keys_separator_and_append(tmp_path, caplog):
    path = str(tmp_path / "log.csv")
    logger = CSVLogger(path, separator=";", append=True)
    for _run in range(2):
        logger.on_train_begin({})
        logger.on_epoch_end(0, {"reward": 0.5, "total_cost": None})
        with caplog.at_level(logging.WARNING, logger="synaplex.training"):
            logger.on_epoch_end(1, {"reward": 0.75, "val_reward": 0.9})  # total_cost missing, val_reward new
        logger.on_train_end({})
    rows = read_csv(path, ";")
    assert rows == [["epoch", "reward", "total_cost"],  # the header once: the second run appended
                    ["0", "0.5", ""], ["1", "0.75", ""],
                    ["0", "0.5", ""], ["1", "0.75", ""]]
    assert "['val_reward'] first appeared at epoch 2" in caplog.text
    assert caplog.text.count("first appeared") == 1
    with pytest.raises(InvalidInputError, match="separator must be one character"):
        CSVLogger(path, separator=";;")


def test_csv_logger_without_append_overwrites(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("old content\n")
    fake_fit([CSVLogger(path)], epochs=1, steps=1)
    assert "old content" not in path.read_text()
    assert read_csv(path)[0][0] == "epoch"


def test_csv_logger_never_writes_through_a_symbolic_link(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    link = tmp_path / "log.csv"
    link.symlink_to(precious)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "created-through-the-link.txt")
    for path, target in ((link, precious), (dangling, tmp_path / "created-through-the-link.txt")):
        for append in (False, True):
            with pytest.raises(SavingError) as caught:
                fake_fit([CSVLogger(path, append=append)], epochs=1, steps=1)
            assert str(caught.value) == (
                f"CSVLogger will not write to {str(path)!r}: it is a symbolic link (to {str(target)!r}), and writing "
                "through it could overwrite another file. Remove the link or log to another path.")
            assert caught.value.path == str(path)
    assert precious.read_text() == "keep me\n"
    assert not (tmp_path / "created-through-the-link.txt").exists()


# --- EarlyStopping ------------------------------------------------------------------------


def run_early_stopping(values, key="val_reward", **kwargs):
    stopper = EarlyStopping(monitor=key, **kwargs)
    callback_list, ran = fake_fit([stopper], epochs=len(values), steps=1, epoch_logs=rewards_by_epoch(*values, key=key))
    epochs_run = sorted({epoch for epoch, _ in ran})
    return stopper, callback_list.program, len(epochs_run)


def test_early_stopping_patience():
    # best at epoch 2 (0.6); epochs 3 and 4 do not improve: with patience 2 it stops after epoch 4
    stopper, program, epochs = run_early_stopping([0.5, 0.6, 0.55, 0.6, 0.9, 1.0], patience=2)
    assert epochs == 4
    assert program.stop_training is True
    assert stopper.stopped_epoch == 3 and stopper.best == 0.6 and stopper.best_epoch == 1
    assert program.stop_reason == "EarlyStopping: val_reward did not improve for 2 epoch(s) (best 0.6000 at epoch 2)."


def test_early_stopping_patience_zero_stops_at_the_first_non_improvement():
    _, program, epochs = run_early_stopping([0.5, 0.7, 0.7, 0.9])
    assert epochs == 3 and program.stop_training


def test_early_stopping_never_stops_while_improving():
    stopper, program, epochs = run_early_stopping([0.1, 0.2, 0.3, 0.4], patience=0)
    assert epochs == 4 and not program.stop_training and stopper.stopped_epoch == 0


def test_early_stopping_min_delta():
    # +0.005 is not an improvement with min_delta=0.01; +0.02 is
    _, program, epochs = run_early_stopping([0.5, 0.52, 0.525, 0.6], min_delta=0.01, patience=1)
    assert epochs == 3 and program.stop_training
    _, program, epochs = run_early_stopping([0.5, 0.52, 0.54, 0.56], min_delta=0.01, patience=1)
    assert epochs == 4 and not program.stop_training


def test_early_stopping_baseline():
    # improving, but never above the baseline: the patience counter is never reset
    _, program, epochs = run_early_stopping([0.1, 0.2, 0.2, 0.2, 0.2], baseline=0.8, patience=2)
    assert program.stop_training and epochs == 3
    assert "did not reach the baseline 0.8" in program.stop_reason
    # once above the baseline, training goes on
    _, program, epochs = run_early_stopping([0.1, 0.9, 0.95, 0.99], baseline=0.8, patience=1)
    assert epochs == 4 and not program.stop_training


def test_early_stopping_modes():
    # cost is minimized by "auto": a rising cost stops training
    stopper, program, epochs = run_early_stopping([3.0, 2.0, 2.5], key="val_cost", patience=0)
    assert stopper.mode == "min" and epochs == 3 and program.stop_training
    _, program, epochs = run_early_stopping([3.0, 2.0, 1.0], key="val_cost", mode="min")
    assert not program.stop_training
    # explicit max on a name "auto" would minimize
    _, program, epochs = run_early_stopping([1.0, 2.0, 3.0], key="score", mode="max", stop_at=None)
    assert not program.stop_training
    _, program, _ = run_early_stopping([1.0, 2.0, 3.0], key="score", mode="min")
    assert program.stop_training
    for name in ("val_reward", "accuracy", "val_f1_score", "precision", "recall"):
        assert EarlyStopping(monitor=name).mode == "max"
    for name in ("total_cost", "val_errors", "total_tokens"):
        assert EarlyStopping(monitor=name).mode == "min"
    with pytest.raises(InvalidInputError, match="mode must be 'auto', 'min' or 'max'"):
        EarlyStopping(mode="maximize")
    with pytest.raises(InvalidInputError, match="patience must be an integer"):
        EarlyStopping(patience=-1)


def test_early_stopping_start_from_epoch():
    # epochs 0-1 are warm-up: their values are not compared
    stopper, program, epochs = run_early_stopping([0.9, 0.8, 0.1, 0.2, 0.3], start_from_epoch=2)
    assert epochs == 5 and not program.stop_training and stopper.best == 0.3


def test_early_stopping_missing_monitor_warns_with_the_available_names():
    stopper = EarlyStopping(monitor="val_reward", patience=0)
    with pytest.warns(UserWarning, match=r"'val_reward', which is not available\. Available values are: .*reward.*"
                                         r"Validation values \(val_\*\) need fit\(validation_data"):
        _, ran = fake_fit([stopper], epochs=3, steps=1, epoch_logs=lambda e: {"reward": 0.5 - e / 10})
    assert stopper.best is None and len(ran) == 3  # skipped, not crashed, not stopped
    stopper = EarlyStopping(monitor="val_f1", patience=0)
    with pytest.warns(UserWarning, match="'val_f1', which is None"):
        fake_fit([stopper], epochs=1, steps=1, epoch_logs=lambda e: {"val_f1": None, "val_reward": 1.0})


async def test_early_stopping_restore_best_weights():
    program = await tiny_program()
    set_instructions(program, "epoch 0")
    values = [0.3, 0.9, 0.5, 0.4]

    class Mutate(Callback):  # plays the optimizer: each epoch leaves new instructions
        def on_epoch_begin(self, epoch, logs=None):
            set_instructions(self.program, f"epoch {epoch}")

    stopper = EarlyStopping(restore_best_weights=True, patience=2)
    fake_fit([Mutate(), stopper], program=program, epochs=4, steps=1, epoch_logs=rewards_by_epoch(*values))
    assert stopper.stopped_epoch == 3 and stopper.best_epoch == 1
    assert instructions(program) == "epoch 1"  # the best epoch's variables are back

    # without restore_best_weights the last epoch's variables stay
    stopper = EarlyStopping(patience=2)
    fake_fit([Mutate(), stopper], program=program, epochs=4, steps=1, epoch_logs=rewards_by_epoch(*values))
    assert instructions(program) == "epoch 3"


async def test_early_stopping_restores_the_best_even_without_stopping():
    program = await tiny_program()

    class Mutate(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            set_instructions(self.program, f"epoch {epoch}")

    stopper = EarlyStopping(restore_best_weights=True, patience=5)
    fake_fit([Mutate(), stopper], program=program, epochs=3, steps=1, epoch_logs=rewards_by_epoch(0.2, 0.8, 0.5))
    assert stopper.stopped_epoch == 0
    assert instructions(program) == "epoch 1"


# --- ProgramCheckpoint --------------------------------------------------------------------


async def test_checkpoint_save_best_only_writes_only_on_improvement(tmp_path):
    program = await tiny_program()
    checkpoint = ProgramCheckpoint(str(tmp_path / "ckpt_{epoch:02d}_{val_reward:.2f}.json"), save_best_only=True)
    fake_fit([checkpoint], program=program, epochs=5, steps=1,
             epoch_logs=rewards_by_epoch(0.5, 0.4, 0.75, 0.75, 0.8))
    assert sorted(os.listdir(tmp_path)) == ["ckpt_01_0.50.json", "ckpt_03_0.75.json", "ckpt_05_0.80.json"]
    assert checkpoint.best == 0.8
    loaded = synaplex.Program.load(str(tmp_path / "ckpt_05_0.80.json"))
    assert loaded.name == "tiny"


async def test_checkpoint_without_save_best_only_saves_every_epoch(tmp_path, capsys):
    program = await tiny_program()
    checkpoint = ProgramCheckpoint(tmp_path / "sub" / "epoch{epoch}.json", verbose=1)
    fake_fit([checkpoint], program=program, epochs=3, steps=1)
    assert sorted(os.listdir(tmp_path / "sub")) == ["epoch1.json", "epoch2.json", "epoch3.json"]
    assert "Epoch 2: saving the program to" in capsys.readouterr().out


async def test_checkpoint_one_file_holds_the_best(tmp_path):
    program = await tiny_program()
    path = tmp_path / "best.json"

    class Mutate(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            set_instructions(self.program, f"epoch {epoch}")

    checkpoint = ProgramCheckpoint(path, monitor="val_reward", mode="max", save_best_only=True,
                                   save_variables_only=True)
    fake_fit([Mutate(), checkpoint], program=program, epochs=4, steps=1,
             epoch_logs=rewards_by_epoch(0.2, 0.9, 0.5, 0.9))
    saved = json.loads(path.read_text())["variables"]
    assert saved["generator/state"]["instructions"] == "epoch 1"  # epoch 4 only tied: not saved
    set_instructions(program, "changed")
    program.load_variables(str(path))
    assert instructions(program) == "epoch 1"


async def test_checkpoint_mode_min_and_threshold(tmp_path):
    program = await tiny_program()
    checkpoint = ProgramCheckpoint(tmp_path / "c{epoch}.json", monitor="val_total_cost", save_best_only=True,
                                   initial_value_threshold=1.0)
    assert checkpoint.mode == "min"
    fake_fit([checkpoint], program=program, epochs=4, steps=1,
             epoch_logs=rewards_by_epoch(1.5, 0.9, 0.95, 0.5, key="val_total_cost"))
    assert sorted(os.listdir(tmp_path)) == ["c2.json", "c4.json"]


async def test_checkpoint_bad_filepath_and_missing_monitor(tmp_path):
    program = await tiny_program()
    checkpoint = ProgramCheckpoint(tmp_path / "c_{val_accuracy:.2f}.json")
    with pytest.raises(InvalidInputError, match=r"no log named 'val_accuracy' at epoch 1\. Available: epoch, "):
        fake_fit([checkpoint], program=program, epochs=1, steps=1)
    checkpoint = ProgramCheckpoint(tmp_path / "c.json", save_best_only=True)
    with pytest.warns(UserWarning, match="'val_reward', which is not available"):
        fake_fit([checkpoint], program=program, epochs=1, steps=1)
    assert not os.path.exists(tmp_path / "c.json")


# --- BudgetStopping -----------------------------------------------------------------------


def test_budget_stopping_stops_before_the_next_batch_could_exceed_max_calls(caplog):
    budget = BudgetStopping(max_calls=10)
    with caplog.at_level(logging.WARNING, logger="synaplex.training"):
        callback_list, ran = fake_fit([budget], epochs=3, steps=5, batch_usage=(4, 100, 0.01))
    assert ran == [(0, 0), (0, 1)]  # 8 calls spent; a third batch of 4 would make 12 > 10
    program = callback_list.program
    assert program.stop_training is True
    assert program.stop_reason == budget.reason
    assert budget.reason == ("BudgetStopping: max_calls=10 calls reached: 8 calls spent so far (after batch 2) "
                             "and a batch has taken up to 4 calls, so the next one could exceed it.")
    records = [r for r in caplog.records if r.name == "synaplex.training"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    assert "max_calls=10 calls reached" in records[0].getMessage()
    history = next(c for c in callback_list.callbacks if isinstance(c, History))
    assert history.stop_reason == budget.reason


def test_budget_stopping_exactly_at_the_limit_is_allowed():
    _, ran = fake_fit([BudgetStopping(max_calls=12)], epochs=1, steps=5, batch_usage=(4, 100, 0.01))
    assert len(ran) == 3  # 12 calls: the budget is used up, not exceeded


def test_budget_stopping_tokens_and_cost():
    budget = BudgetStopping(max_tokens=1000, max_cost=0.035)
    _, ran = fake_fit([budget], epochs=2, steps=5, batch_usage=(1, 100, 0.01))
    assert len(ran) == 3  # cost: 0.03 + 0.01 > 0.035
    assert budget.reason.startswith("BudgetStopping: max_cost=$0.0350 reached: $0.0300 spent so far")


def test_budget_stopping_uses_the_largest_batch_seen():
    budget = BudgetStopping(max_tokens=1000)
    program = FakeProgram()
    budget.set_program(program)
    budget.on_train_begin({})
    budget.on_train_batch_end(0, {"total_tokens": 500, "batch_tokens": 500})
    budget.on_train_batch_end(1, {"total_tokens": 600, "batch_tokens": 100})
    assert program.stop_training  # 600 + 500 (the largest batch) > 1000
    assert "a batch has taken up to 500 tokens" in program.stop_reason


def test_budget_stopping_checks_at_epoch_end():
    budget = BudgetStopping(max_calls=10)
    program = FakeProgram()
    budget.set_program(program)
    budget.on_train_begin({})
    budget.on_train_batch_end(0, {"total_calls": 2, "batch_calls": 2})
    assert not program.stop_training
    budget.on_epoch_end(0, {"total_calls": 11})  # the validation spent a lot
    assert program.stop_training
    assert program.stop_reason == "BudgetStopping: max_calls=10 calls exceeded: 11 calls spent (after epoch 1)."


def test_budget_stopping_unknown_cost_warns_once_and_does_not_stop(caplog):
    budget = BudgetStopping(max_cost=0.01)
    with caplog.at_level(logging.WARNING, logger="synaplex.training"):
        callback_list, ran = fake_fit([budget], epochs=2, steps=3, batch_usage=(4, 100, None))
    assert len(ran) == 6 and not callback_list.program.stop_training
    messages = [r.getMessage() for r in caplog.records if r.name == "synaplex.training"]
    assert len(messages) == 1
    assert "max_cost=$0.0100 cannot be enforced: the cost of this run is unknown" in messages[0]


def test_budget_stopping_arguments():
    with pytest.raises(InvalidInputError, match="BudgetStopping needs a budget: give max_cost"):
        BudgetStopping()
    with pytest.raises(InvalidInputError, match="max_calls must be positive, got -1"):
        BudgetStopping(max_calls=-1)
    with pytest.raises(InvalidInputError, match="max_cost must be positive, got 0"):
        BudgetStopping(max_cost=0)
    with pytest.raises(InvalidInputError, match="max_tokens must be a number, got '1000'"):
        BudgetStopping(max_tokens="1000")
    with pytest.raises(ValueError):  # InvalidInputError is a ValueError
        BudgetStopping(max_calls=True)
    assert BudgetStopping(max_cost=1.5).limits == {"cost": 1.5}


# --- BackupAndRestore ---------------------------------------------------------------------


def test_backup_is_written_atomically_and_deleted_when_training_finishes(tmp_path):
    backup_dir = tmp_path / "backup"
    written = []

    class Spy(Callback):  # runs after BackupAndRestore: sees each backup as written
        def on_train_batch_end(self, batch, logs=None):
            written.append(json.loads((backup_dir / "backup.json").read_text()))

    backup = BackupAndRestore(backup_dir)
    fake_fit([backup, Spy()], epochs=2, steps=2)
    assert len(written) == 4
    assert written[0]["format"] == "synaplex.training_backup"
    assert written[0]["state"]["epoch"] == 0 and written[0]["state"]["batch"] == 1
    assert written[-1]["state"]["history"] == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert not (backup_dir / "backup.json").exists()  # finished: deleted
    assert os.listdir(backup_dir) == []  # no temporary file left behind


def test_backup_restores_an_interrupted_run(tmp_path):
    backup_dir = tmp_path / "backup"
    program = FakeProgram()
    with pytest.raises(RuntimeError, match="interrupted"):
        fake_fit([BackupAndRestore(backup_dir)], program=program, epochs=2, steps=3, fail_at=(1, 1),
                 on_train_end_always=False)
    saved = json.loads((backup_dir / "backup.json").read_text())["state"]
    assert saved["epoch"] == 1 and saved["batch"] == 1  # epoch 2's first batch was done

    resumed = FakeProgram()
    backup = BackupAndRestore(backup_dir)
    _, ran = fake_fit([backup], program=resumed, epochs=2, steps=3)
    assert backup.restored is True
    assert resumed.restored == [saved]
    assert ran == [(1, 1), (1, 2)]  # only what was left
    assert resumed.state["history"] == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    assert not (backup_dir / "backup.json").exists()


def test_backup_is_kept_when_the_run_fails_or_when_asked(tmp_path):
    # the trainer calls on_train_end on an error too, with _training_finished False
    with pytest.raises(RuntimeError):
        fake_fit([BackupAndRestore(tmp_path / "a")], epochs=2, steps=2, fail_at=(0, 1))
    assert (tmp_path / "a" / "backup.json").exists()
    fake_fit([BackupAndRestore(tmp_path / "b", delete_checkpoint=False)], epochs=1, steps=1)
    assert (tmp_path / "b" / "backup.json").exists()


def test_backup_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "backup.json"
    path.write_text('{"format": "synaplex.training_backup", "state": {"epo')
    program = FakeProgram()
    with pytest.raises(SavingError, match=r"training backup .*backup\.json' is corrupt \(not valid JSON") as info:
        fake_fit([BackupAndRestore(tmp_path)], program=program, epochs=1, steps=1, add_history=False)
    assert info.value.path == str(path)
    assert program.restored == []

    path.write_text(json.dumps({"epoch": 1}))
    with pytest.raises(SavingError, match="corrupt or not a synaplex training backup") as info:
        fake_fit([BackupAndRestore(tmp_path)], epochs=1, steps=1)
    assert info.value.path == str(path)


def test_backup_is_durable_and_a_killed_writes_temporary_file_is_removed(tmp_path, monkeypatch):
    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = backup_dir / f".backup.json.{dead.pid}.abc_123.synaplex-tmp"  # a write killed mid-way
    stale.write_text("{half")
    synced, real = [], os.fsync

    def fsync(descriptor):
        synced.append("folder" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file")
        real(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    fake_fit([BackupAndRestore(backup_dir, delete_checkpoint=False)], epochs=1, steps=1)
    assert synced == ["file", "folder"] * 2  # after the batch and after the epoch
    assert os.listdir(backup_dir) == ["backup.json"]


def test_a_backup_nested_too_deep_is_a_clear_error(tmp_path):
    path = tmp_path / "backup.json"
    for depth in (150, 10_000):
        path.write_text('{"format": "synaplex.training_backup", "state": ' + "[" * depth + "]" * depth + "}")
        with pytest.raises(SavingError) as caught:
            fake_fit([BackupAndRestore(tmp_path)], epochs=1, steps=1)
        assert str(caught.value) == (f"The training backup {str(path)!r} is corrupt (its JSON is nested more than "
                                     "100 levels deep). Delete it to start training over.")


def test_a_backup_with_a_number_too_long_to_read_is_a_clear_error(tmp_path):
    path = tmp_path / "backup.json"
    path.write_text('{"format": "synaplex.training_backup", "state": {"epoch": ' + "9" * 5000 + "}}")
    with pytest.raises(SavingError, match=r"training backup .*backup\.json' is corrupt \(not valid JSON: Exceeds "
                                          r"the limit \(4300 digits\)"):
        fake_fit([BackupAndRestore(tmp_path)], epochs=1, steps=1)


def test_backup_restore_failure_names_the_file(tmp_path):
    class Strict(FakeProgram):
        def _restore_training_state(self, state):
            raise KeyError("optimizer")

    path = tmp_path / "backup.json"
    path.write_text(json.dumps({"format": "synaplex.training_backup", "version": 1, "state": {"epoch": 0}}))
    with pytest.raises(SavingError, match=r"Cannot resume training from the backup .*backup\.json'.*KeyError"):
        fake_fit([BackupAndRestore(tmp_path)], program=Strict(), epochs=1, steps=1)


def test_backup_arguments():
    with pytest.raises(InvalidInputError, match="backup_dir must be a folder path"):
        BackupAndRestore("")
    assert BackupAndRestore("runs/x").filepath == os.path.join("runs/x", "backup.json")


# --- ProgbarLogger ------------------------------------------------------------------------


def fit_logs(epoch):
    return {"reward": 0.5 + epoch / 10, "f1_score": 0.25, "val_reward": 0.4}


def test_progbar_prints_an_epoch_summary(capsys):
    fake_fit([ProgbarLogger(verbose=1)], epochs=2, steps=3, epoch_logs=fit_logs)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2  # not a terminal: no bar, one line per epoch
    assert lines[0].startswith("Epoch 1/2 · 3/3 batches · ")
    assert "reward 0.5000 · f1_score 0.2500 · val_reward 0.4000 · 12 calls · 300 tokens · $0.0300" in lines[0]
    assert lines[1].startswith("Epoch 2/2 · 3/3 batches")
    assert "reward 0.6000" in lines[1] and "12 calls" in lines[1] and "run total $0.0600" in lines[1]


def test_progbar_follows_fit_verbose_and_is_added_by_the_list(capsys):
    fake_fit([], epochs=1, steps=1, add_progbar=True, verbose=1)
    assert capsys.readouterr().out.startswith("Epoch 1/1 · 1/1 batches")
    fake_fit([], epochs=1, steps=1, add_progbar=True, verbose=0)
    assert capsys.readouterr().out == ""


def test_progbar_verbose_zero_prints_nothing(capsys):
    fake_fit([ProgbarLogger(verbose=0)], epochs=2, steps=2, epoch_logs=fit_logs)
    progbar = ProgbarLogger(verbose=0)
    progbar.set_params({"epochs": 1, "steps": 1, "verbose": 1})
    progbar.on_test_begin({})
    progbar.on_test_batch_end(0, {"reward": 1.0})
    progbar.on_test_end({"reward": 1.0})
    assert capsys.readouterr().out == ""


def test_progbar_says_why_training_stopped(capsys):
    fake_fit([BudgetStopping(max_calls=10), ProgbarLogger()], epochs=2, steps=5)
    out = capsys.readouterr().out
    assert "Epoch 1/2 · 2/5 batches" in out
    assert "Training stopped early: BudgetStopping: max_calls=10 calls reached" in out


def test_progbar_draws_a_bar_on_a_terminal_and_closes_it():
    from rich.console import Console

    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=120)
    progbar = ProgbarLogger(verbose=1, console=console)
    fake_fit([progbar], epochs=2, steps=3, epoch_logs=fit_logs)
    text = stream.getvalue()
    assert "Epoch 1/2 · 3/3 batches" in text and "Epoch 2/2 · 3/3 batches" in text
    assert progbar._progress is None and callbacks_lib._ACTIVE_PROGRESS == []


def test_progbar_closes_its_bar_at_train_end_after_an_error():
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    progbar = ProgbarLogger(verbose=1, console=console)
    with pytest.raises(RuntimeError):
        fake_fit([progbar], epochs=2, steps=3, fail_at=(0, 1))
    assert progbar._progress is None and callbacks_lib._ACTIVE_PROGRESS == []


def test_progbar_stops_a_bar_an_interrupted_run_left_live():
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    leftover = ProgbarLogger(verbose=1, console=console)
    with pytest.raises(RuntimeError):  # a trainer that skips on_train_end on errors
        fake_fit([leftover], epochs=2, steps=3, fail_at=(0, 1), on_train_end_always=False)
    assert leftover._progress is not None and len(callbacks_lib._ACTIVE_PROGRESS) == 1
    fresh = ProgbarLogger(verbose=1, console=console)
    fake_fit([fresh], epochs=1, steps=1)  # rich allows one live display: the leftover is stopped
    assert callbacks_lib._ACTIVE_PROGRESS == []
    leftover.close()


def test_progbar_evaluate_and_predict_outside_fit(capsys):
    progbar = ProgbarLogger()
    progbar.set_params({"epochs": 1, "steps": 2, "verbose": 1})
    progbar.on_test_begin({})
    for batch in range(2):
        progbar.on_test_batch_begin(batch, {})
        progbar.on_test_batch_end(batch, {"reward": 0.5})
    progbar.on_test_end({"reward": 0.5, "errors": 1, "inference_calls": 4, "inference_tokens": 40,
                         "inference_cost": None, "reward_calls": 0, "reward_tokens": 0, "reward_cost": 0.0})
    progbar.on_predict_begin({})
    progbar.on_predict_batch_end(0, {})
    progbar.on_predict_end({})
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("Evaluate · 2/2 batches · ")
    assert "reward 0.5000 · 1 failed examples · 4 calls · 40 tokens · cost unknown" in lines[0]
    assert lines[1].startswith("Predict · 1/2 batches")


def test_progbar_ignores_validation_inside_fit(capsys):
    progbar = ProgbarLogger()
    progbar.set_params({"epochs": 1, "steps": 1, "verbose": 1})
    progbar.on_train_begin({})
    progbar.on_test_begin({})
    progbar.on_test_end({"reward": 1.0})
    progbar.on_train_end({})
    assert capsys.readouterr().out == ""


def test_progbar_arguments():
    with pytest.raises(InvalidInputError, match="verbose must be 0, 1 or 2"):
        ProgbarLogger(verbose=3)


def test_no_warning_on_a_clean_run(recwarn, tmp_path):
    fake_fit([EarlyStopping(patience=1), CSVLogger(tmp_path / "x.csv"), BudgetStopping(max_calls=100),
              BackupAndRestore(tmp_path / "b"), ProgbarLogger(verbose=0)],
             epochs=2, steps=2, epoch_logs=lambda e: {"reward": 0.5, "val_reward": 0.5 + e})
    assert [str(w.message) for w in recwarn] == []
