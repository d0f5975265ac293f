"""compile / fit / evaluate with the scripted LM: the loop, its errors, callbacks, budgets,
backups, saving and reproducibility."""

import json
import logging

import numpy as np
import pytest

import synaplex
from synaplex.errors import InvalidInputError, NotCompiledError
from synaplex.training.callbacks import BackupAndRestore, BudgetStopping, Callback, ProgramCheckpoint
from tests.conftest import Answer, Query


def few_shot_lm(**kwargs):
    """Answers the upper-cased query when the prompt carries few-shot examples; without them
    it only gets the queries numbered by a multiple of 3 right. So examples matter, and good
    ones exist."""

    def reply(messages, schema):
        query = json.loads(messages[-1]["content"])["query"]
        has_examples = any(m["role"] == "assistant" for m in messages[:-1])
        good = has_examples or int(query[1:]) % 3 == 0
        return {"answer": query.upper() if good else query}

    return synaplex.LanguageModel(model="scripted", responses=reply, **kwargs)


def data(n, start=0):
    x = [Query(query=f"q{i}") for i in range(start, start + n)]
    y = [Answer(answer=f"Q{i}") for i in range(start, start + n)]
    return x, y


async def build(lm=None):
    inputs = synaplex.Input(data_model=Query)
    outputs = await synaplex.Generator(data_model=Answer, language_model=lm or few_shot_lm())(inputs)
    return synaplex.Program(inputs=inputs, outputs=outputs, name="upper")


async def compiled(lm=None, **kwargs):
    program = await build(lm)
    program.compile(reward=synaplex.rewards.ExactMatch(in_mask=["answer"]),
                    optimizer=synaplex.optimizers.RandomFewShot(nb_min_examples=1, nb_max_examples=2),
                    metrics=kwargs.pop("metrics", ["accuracy"]))
    return program


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            events = object.__getattribute__(self, "events")
            return lambda *args: events.append(name if not args or isinstance(args[0], dict) else f"{name}:{args[0]}")
        return object.__getattribute__(self, name)


async def test_fit_improves_the_reward_and_keeps_the_best_few_shot_examples():
    program = await compiled()
    x, y = data(16)
    x_test, y_test = data(10, start=100)
    before = await program.evaluate(x_test, y_test, batch_size=5, verbose=0)
    assert before["reward"] == 0.3  # q102, q105, q108
    # Synalinks' Accuracy compares lower-cased tokens: "q101" and "Q101" agree (the reward does not)
    assert before["accuracy"] == pytest.approx(1.0)
    history = await program.fit(x=x, y=y, epochs=2, batch_size=4, verbose=0, seed=1)
    after = await program.evaluate(x_test, y_test, batch_size=5, verbose=0)
    assert after["reward"] == 1.0 and after["accuracy"] == pytest.approx(1.0)
    assert history.epoch == [0, 1] and history.history["reward"][1] == 1.0
    examples = program.trainable_variables[0]["examples"]
    assert 1 <= len(examples) <= 2
    assert all(e["outputs"]["answer"] == e["inputs"]["query"].upper() for e in examples)  # well-rewarded only
    assert program.trainable_variables[0]["instructions"] == program.modules[-1].state["instructions"]


async def test_evaluate_returns_reward_metrics_and_usage_per_phase():
    judge = synaplex.LanguageModel(model="scripted", responses=lambda m, s: {"critique": "ok", "reward": 0.25})
    program = await build()
    program.compile(reward=synaplex.rewards.LMAsJudge(language_model=judge), metrics=["accuracy"])
    x, y = data(6)
    logs = await program.evaluate(x, y, batch_size=4, verbose=0)
    assert logs["reward"] == 0.25 and logs["accuracy"] == pytest.approx(1.0)  # tokens agree, case aside
    assert (logs["inference_calls"], logs["reward_calls"], logs["optimizer_calls"]) == (6, 6, 0)
    assert logs["inference_tokens"] > 0 and logs["errors"] == 0


async def test_numpy_object_arrays_and_dicts_are_accepted():
    program = await compiled()
    x, y = data(4)
    x_array = np.empty(4, dtype=object)
    x_array[:] = x
    logs = await program.evaluate(x_array, [v.get_json() for v in y], verbose=0)
    assert logs["reward"] == 0.5


async def test_callbacks_fire_in_keras_order():
    program = await compiled()
    recorder = Recorder()
    x, y = data(4)
    await program.fit(x=x, y=y, epochs=2, batch_size=2, verbose=0, callbacks=[recorder],
                      validation_data=data(2, start=50))
    assert recorder.events == [
        "on_train_begin",
        "on_epoch_begin:0", "on_train_batch_begin:0", "on_train_batch_end:0",
        "on_train_batch_begin:1", "on_train_batch_end:1", "on_epoch_end:0",
        "on_epoch_begin:1", "on_train_batch_begin:0", "on_train_batch_end:0",
        "on_train_batch_begin:1", "on_train_batch_end:1", "on_epoch_end:1",
        "on_train_end"]


async def test_epoch_logs_hold_validation_and_usage():
    program = await compiled()
    x, y = data(8)
    history = await program.fit(x=x, y=y, epochs=1, batch_size=4, verbose=0, validation_split=0.25, shuffle=False)
    logs = {k: v[0] for k, v in history.history.items()}
    assert set(logs) >= {"reward", "accuracy", "val_reward", "val_accuracy", "inference_calls", "reward_calls",
                         "optimizer_calls", "total_calls", "total_cost"}
    assert logs["inference_calls"] == 6 + 2  # 6 training examples, 2 held out (the last two, as in Keras)
    assert logs["total_cost"] == 0.0


async def test_failed_examples_score_zero_are_counted_and_logged(caplog):
    def reply(messages, schema):
        query = json.loads(messages[-1]["content"])["query"]
        return {"wrong": 1} if query == "q1" else {"answer": query.upper()}

    program = await compiled(synaplex.LanguageModel(model="scripted", responses=reply))
    x, y = data(4)
    with caplog.at_level(logging.WARNING, logger="synaplex.training"):
        logs = await program.evaluate(x, y, verbose=0)
    assert logs["reward"] == 0.75 and logs["errors"] == 1
    assert "failed on an example (scored 0): StructuredOutputError" in caplog.text


async def test_budget_stopping_stops_before_the_budget_is_exceeded():
    program = await compiled()
    x, y = data(12)  # 3 held out to compare candidates on, 9 to train on: batches of 4, 4 and 1
    history = await program.fit(x=x, y=y, epochs=3, batch_size=4, verbose=0, seed=0,
                                callbacks=[BudgetStopping(max_calls=40)])
    # the starting point on the 12 training examples (12 calls), then the first step: its batch (4)
    # and its candidates, each on the training examples that are not its demonstrations (20 in all):
    # 36 spent, the next step could take 24 more, so it stops
    assert history.stop_reason.startswith("BudgetStopping: max_calls=40 calls reached: 36 calls spent so far "
                                          "(after batch 1) and a batch has taken up to 24 calls")
    assert program.modules[-1].language_model.usage.calls == 36 == history.history["total_calls"][-1]
    assert (history.history["inference_calls"][-1], history.history["selection_calls"][-1]) == (4, 32)


async def test_backup_and_restore_resumes_a_crashed_run_with_nothing_lost(tmp_path):
    x, y = data(12)
    reference = await compiled()
    expected = await reference.fit(x=x, y=y, epochs=2, batch_size=4, verbose=0, seed=3)

    class Crash(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.program._fit_state["epoch"] == 1 and batch == 1:
                raise RuntimeError("killed")

    synaplex.clear_session()  # as in a new process: the same module names
    program = await compiled()
    backup = BackupAndRestore(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="killed"):
        await program.fit(x=x, y=y, epochs=2, batch_size=4, verbose=0, seed=3, callbacks=[backup, Crash()])
    saved = json.loads((tmp_path / "backup" / "backup.json").read_text())["state"]
    assert (saved["epoch"], saved["batch"], len(saved["records"])) == (1, 2, 8)

    other = await compiled()  # built in the same session: other module names
    with pytest.raises(synaplex.errors.SavingError, match=r"This backup is of another program: it holds the variables \['generator/state'\]"):
        await other.fit(x=x, y=y, epochs=2, callbacks=[BackupAndRestore(tmp_path / "backup")], verbose=0)
    synaplex.clear_session()
    resumed = await compiled()
    lm = resumed.modules[-1].language_model
    history = await resumed.fit(x=x, y=y, epochs=2, batch_size=4, verbose=0, seed=3,
                                callbacks=[BackupAndRestore(tmp_path / "backup")])
    # only the last batch of the last epoch (1 example, 3 of the 12 are held out) ran again, with
    # its candidates on the training examples that are not their demonstrations (the scores
    # measured before the crash were restored)
    assert (history.history["inference_calls"][-1], history.history["selection_calls"][-1]) == (1, 31)
    assert lm.usage.calls == 1 + 31
    assert history.selection == expected.selection and history.selection["source"] == "training"
    assert history.history["reward"] == expected.history["reward"]
    assert history.history["accuracy"] == expected.history["accuracy"]
    assert resumed.trainable_variables[0].get_json() == reference.trainable_variables[0].get_json()
    assert not (tmp_path / "backup" / "backup.json").exists()


async def test_same_seed_with_the_cache_repeats_the_history_with_no_new_calls():
    x, y = data(8)
    lm = few_shot_lm(caching=True)
    first = await compiled(lm)
    history1 = await first.fit(x=x, y=y, epochs=2, batch_size=4, verbose=0, seed=7)
    requests = len(lm._adapter.requests)
    second = await compiled(lm)
    history2 = await second.fit(x=x, y=y, epochs=2, batch_size=4, verbose=0, seed=7)
    assert history2.history["reward"] == history1.history["reward"]
    assert len(lm._adapter.requests) == requests  # every call answered from the cache
    assert history2.history["inference_calls"][-1] == history2.history["inference_calls"][-1]


async def test_a_saved_trained_program_predicts_like_the_trained_one_and_keeps_its_optimizer(tmp_path):
    program = await compiled()
    x, y = data(8)
    # selection_alpha=1 (any higher mean): on 8 examples the sign test at 5% may keep the start
    await program.fit(x=x, y=y, epochs=1, batch_size=4, verbose=0, seed=2, selection_alpha=1,
                      callbacks=[ProgramCheckpoint(str(tmp_path / "best.json"), monitor="reward")])
    program.save(tmp_path / "trained.json")
    saved = json.loads((tmp_path / "trained.json").read_text())
    assert saved["compile"]["optimizer_state"]["variables"]
    with pytest.warns(UserWarning, match="could not be imported when it was loaded"):
        loaded = synaplex.Program.load(tmp_path / "trained.json")
    loaded.modules[-1].language_model.set_responses(few_shot_lm()._adapter._responses.fn)
    x_test, _ = data(6, start=200)
    original = [p.get_json() for p in await program.predict(x_test)]
    assert [p.get_json() for p in await loaded.predict(x_test)] == original
    assert loaded.optimizer.get_config() == program.optimizer.get_config()
    await loaded.fit(x=x, y=y, epochs=1, batch_size=4, verbose=0)  # goes on training from the saved state
    assert loaded.optimizer.iterations == program.optimizer.iterations + 2
    with pytest.warns(UserWarning, match="could not be imported"):
        assert synaplex.Program.load(tmp_path / "best.json").trainable_variables[0]["examples"]


def test_fit_sync_runs_without_an_event_loop():
    program = synaplex.utils.run_sync(compiled())
    x, y = data(4)
    history = program.fit_sync(x=x, y=y, epochs=1, batch_size=2, verbose=0)
    assert len(history.history["reward"]) == 1
    assert program.evaluate_sync(x, y, verbose=0)["reward"] >= 0.5


async def test_progress_bar_prints_an_epoch_summary(capsys):
    program = await compiled()
    x, y = data(4)
    await program.fit(x=x, y=y, epochs=1, batch_size=2, verbose=1)
    assert "Epoch 1/1" in capsys.readouterr().out


# --- bad input -------------------------------------------------------------------------


async def test_fit_before_compile():
    program = await build()
    with pytest.raises(NotCompiledError, match=r"Program 'upper' is not compiled: call program.compile\(reward=..., "
                                               r"optimizer=...\) before fit\(\)"):
        await program.fit(*data(2))
    program.compile(reward="exact_match")
    with pytest.raises(NotCompiledError, match="compiled without an optimizer"):
        await program.fit(*data(2))


async def test_x_and_y_of_different_lengths():
    program = await compiled()
    x, y = data(3)
    with pytest.raises(InvalidInputError, match="x has 3 examples and y has 2; they must be the same length"):
        await program.fit(x=x, y=y[:2])


async def test_y_items_missing_the_masked_field():
    program = await compiled()
    x, _ = data(2)
    with pytest.raises(InvalidInputError, match=r"y\[1\] has no field 'answer', which the reward's "
                                                r"in_mask=\['answer'\] compares"):
        await program.fit(x=x, y=[{"answer": "Q0"}, {"reply": "Q1"}])


@pytest.mark.parametrize("split", [1.5, 1.0, -0.1])
async def test_validation_split_outside_zero_one(split):
    program = await compiled()
    with pytest.raises(InvalidInputError, match=rf"validation_split must be in \(0, 1\) \(or 0 for none\), got {split}"):
        await program.fit(*data(4), validation_split=split)


async def test_a_reward_outside_zero_one_is_an_error():
    async def too_much(y_true, y_pred):
        return 1.5

    program = await build()
    program.compile(reward=too_much, optimizer="random_few_shot")
    with pytest.raises(InvalidInputError, match=r"1\.5.*\[0, 1\]"):
        await program.evaluate(*data(2), verbose=0)


async def test_bad_compile_arguments():
    program = await build()
    with pytest.raises(InvalidInputError, match="compile\\(\\) needs a reward"):
        program.compile()
    with pytest.raises(InvalidInputError, match="optimizer must be an Optimizer or a string id"):
        program.compile(reward="exact_match", optimizer=3)


async def test_embedding_calls_count_in_the_reward_phase():
    program = await build()
    program.compile(reward=synaplex.rewards.CosineSimilarity(embedding_model=synaplex.EmbeddingModel(model="scripted"),
                                                               in_mask=["answer"]))
    logs = await program.evaluate(*data(3), verbose=0)
    assert logs["reward_calls"] == 3 and logs["inference_calls"] == 3


async def test_y_is_required_by_rewards_that_compare():
    program = await compiled()
    with pytest.raises(InvalidInputError, match="fit\\(\\) needs y: the reward ExactMatch compares each prediction"):
        await program.fit(x=data(2)[0])
    judge = synaplex.LanguageModel(model="scripted", responses=lambda m, s: {"critique": "fine", "reward": 1.0})
    program.compile(reward=synaplex.rewards.LMAsJudge(language_model=judge), optimizer="random_few_shot")
    assert (await program.evaluate(x=data(2)[0], verbose=0))["reward"] == 1.0


async def test_the_seeds_custom_reward_snippet(tmp_path, monkeypatch):
    @synaplex.saving.register_synaplex_serializable()
    async def my_reward(y_true, y_pred):
        # Return float between 0.0 and 1.0
        return 1.0 if y_true.get("answer") == y_pred.get("answer") else 0.0

    program = await build()
    program.compile(reward=synaplex.rewards.MeanRewardWrapper(fn=my_reward))
    x, y = data(6)
    assert (await program.evaluate(x=x, y=y, batch_size=32, verbose=0))["reward"] == pytest.approx(2 / 6)
    program.save(tmp_path / "p.json")
    saved = json.loads((tmp_path / "p.json").read_text())["compile"]["reward"]
    assert saved["config"]["fn"]["registered_name"] == "Custom>my_reward"
