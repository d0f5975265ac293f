"""The trainer, callbacks and optimizers for Synalinks users: string ids in compile and fit,
predict/test/train_on_batch, save_freq, EarlyStopping's stop_at and restore_best_variables,
optimizer arguments."""

import json
import os

import pytest

import synaplex
from synaplex.backend.errors import InvalidInputError
from synaplex.errors import NotCompiledError
from synaplex.training import callbacks, metrics, optimizers
from synaplex.training.callbacks import BackupAndRestore, EarlyStopping, ProgramCheckpoint
from synaplex.training.lookup import UnknownIdentifierError
from synaplex.training.optimizers import OMEGA, MissingModelError, RandomFewShot
from tests.conftest import Answer, Query
from tests.test_callbacks import FakeProgram, fake_fit


def few_shot_lm():
    """Upper-cases the query when the prompt has few-shot examples; else only q0, q3, q6… right."""

    def reply(messages, schema):
        query = json.loads(messages[-1]["content"])["query"]
        good = any(m["role"] == "assistant" for m in messages[:-1]) or int(query[1:]) % 3 == 0
        return {"answer": query.upper() if good else query}

    return synaplex.LanguageModel(model="scripted", responses=reply)


async def program_of(lm=None):
    inputs = synaplex.Input(data_model=Query)
    outputs = await synaplex.Generator(data_model=Answer, language_model=lm or few_shot_lm())(inputs)
    return synaplex.Program(inputs=inputs, outputs=outputs, name="upper")


def data(n, start=0):
    return ([Query(query=f"q{i}") for i in range(start, start + n)],
            [Answer(answer=f"Q{i}") for i in range(start, start + n)])


def exact(y_true, y_pred):
    return float(y_true == y_pred)


# --- compile ids ----------------------------------------------------------------------------------


async def test_compile_takes_synalinks_ids_for_reward_optimizer_and_metrics():
    program = await program_of()
    program.compile(reward="exact_match", optimizer="RandomFewShot", metrics=["f1_score", "BinaryAccuracy",
                                                                              metrics.CategoricalF1Score, "RewardCost"])
    assert type(program.reward).__name__ == "ExactMatch" and isinstance(program.optimizer, RandomFewShot)
    assert [m.name for m in program.metrics] == ["f1_score", "binary_accuracy", "categorical_f1_score", "reward_cost"]


async def test_compile_refuses_unknown_ids_with_a_typed_error():
    program = await program_of()
    with pytest.raises(UnknownIdentifierError, match=r"Unknown reward 'exact'\. Valid names: 'cosine_similarity'"):
        program.compile(reward="exact")
    with pytest.raises(UnknownIdentifierError, match=r"Unknown optimizer 'adam'\. Valid names: 'omega', "
                                                     r"'random_few_shot', 'OMEGA', 'RandomFewShot'"):
        program.compile(reward="exact_match", optimizer="adam")
    with pytest.raises(UnknownIdentifierError, match=r"Unknown metric 'f1'\. Valid names: 'accuracy'"):
        program.compile(reward="exact_match", metrics=["f1"])
    with pytest.raises(InvalidInputError, match=r"metrics must be a list \(e\.g\. metrics=\['f1_score'\]\), got str"):
        program.compile(reward="exact_match", metrics="f1_score")
    assert not program._compiled


async def test_compile_refuses_metric_names_that_the_trainer_logs_use():
    program = await program_of()
    with pytest.raises(InvalidInputError, match=r"The metric TotalTokens is named 'total_tokens', a name the "
                                                 r"trainer's own logs use \(the usage of all phases together\)\. Give "
                                                 r"it another name, e\.g\. TotalTokens\(name='metric_total_tokens'\)"):
        program.compile(reward="exact_match", metrics=["total_tokens"])
    with pytest.raises(InvalidInputError, match=r"Two metrics are named 'accuracy'"):
        program.compile(reward="exact_match", metrics=["accuracy", metrics.Accuracy()])
    program.compile(reward="exact_match", metrics=["reward_cost", metrics.TotalTokens(name="inference_total")])


async def test_usage_metrics_are_logged_per_phase():
    program = await program_of()
    program.compile(reward="exact_match", metrics=["InputTokens", "AvgLatency", "reward_cost", "Throughput"])
    logs = await program.evaluate(*data(3), verbose=0)
    assert logs["input_tokens"] > 0 and logs["reward_cost"] == 0.0 and logs["throughput"] > 0
    assert logs["input_tokens"] <= logs["inference_tokens"]


# --- the *_on_batch methods -----------------------------------------------------------------------


async def test_predict_on_batch_returns_the_outputs_in_order():
    program = await program_of()
    outputs = await program.predict_on_batch([Query(query="q3"), Query(query="q6")])
    assert [o.get_json() for o in outputs] == [{"answer": "Q3"}, {"answer": "Q6"}]
    with pytest.raises(InvalidInputError, match=r"x must be a list \(or array\) of examples, got Query"):
        await program.predict_on_batch(Query(query="q3"))


async def test_test_on_batch_accumulates_until_reset_metrics():
    program = await program_of()
    program.compile(reward="exact_match")
    assert await program.test_on_batch(*data(3)) == pytest.approx(1 / 3)  # the reward alone: no metrics
    assert await program.test_on_batch(*data(3, start=3)) == pytest.approx(2 / 6)
    program.reset_metrics()
    program.compile(reward="exact_match", metrics=[metrics.F1Score(average="micro")])
    logs = await program.test_on_batch(*data(3), return_dict=True)
    assert logs["reward"] == pytest.approx(1 / 3) and logs["f1_score"] == pytest.approx(1.0, abs=1e-6)
    assert await program.test_on_batch(*data(3), return_dict=False) == [pytest.approx(1 / 3),
                                                                        pytest.approx(1.0, abs=1e-6)]
    x, y = data(2)
    given = [{"answer": "Q0"}, {"answer": "nope"}]
    program.reset_metrics()
    assert (await program.test_on_batch(x, y, return_dict=True, y_pred=given))["reward"] == 0.5
    with pytest.raises(InvalidInputError, match=r"y_pred has 1 predictions for 2 examples"):
        await program.test_on_batch(x, y, y_pred=given[:1])


async def test_train_on_batch_runs_one_optimizer_step():
    program = await program_of()
    program.compile(reward="exact_match", optimizer=RandomFewShot(seed=0, nb_min_examples=1, nb_max_examples=1))
    x, y = data(6)
    first = await program.train_on_batch(0, x, y, return_dict=True)
    assert first["reward"] == pytest.approx(2 / 6)  # no example yet: only q0 and q3
    # 8 validation examples: the start gets 2 right, an example all 8 (6 wins: the sign test passes)
    second = await program.train_on_batch(1, x, y, val_x=data(8, start=10)[0], val_y=data(8, start=10)[1])
    assert second == pytest.approx((2 + 8) / 14)  # then the validation batch, all right with an example
    assert len(program.trainable_variables[0]["examples"]) == 1  # the best candidate is kept
    with pytest.raises(InvalidInputError, match="step must be an integer >= 0, got -1"):
        await program.train_on_batch(-1, x, y)
    with pytest.raises(InvalidInputError, match="got val_y without val_x"):
        await program.train_on_batch(2, x, y, val_y=y)
    untrained = await program_of()
    untrained.compile(reward="exact_match")
    with pytest.raises(NotCompiledError, match="compiled without an optimizer"):
        await untrained.train_on_batch(0, x, y)


# --- callbacks --------------------------------------------------------------------------------------


async def test_fit_takes_callback_ids():
    program = await program_of()
    program.compile(reward="exact_match", optimizer="random_few_shot")
    history = await program.fit(*data(4), epochs=5, verbose=0, callbacks=["early_stopping"],
                                validation_data=data(8, start=10), seed=0)  # 8: enough for the sign test
    # EarlyStopping's defaults: val_reward reaches stop_at=1.0 once the few-shot examples are learned
    assert history.stop_reason.startswith("EarlyStopping: val_reward reached stop_at=1.0")
    assert len(history.epoch) < 5 and history.history["val_reward"][-1] == 1.0
    assert type(callbacks.get("EarlyStopping")) is EarlyStopping
    with pytest.raises(UnknownIdentifierError, match=r"Unknown callback 'stop'\. Valid names: 'early_stopping', "
                                                     r"'history', 'progbar_logger'"):
        await program.fit(*data(4), verbose=0, callbacks=["stop"])
    with pytest.raises(InvalidInputError, match=r"The callback 'ProgramCheckpoint' \(ProgramCheckpoint\) cannot be "
                                                 r"built from its name alone: it needs a file path"):
        callbacks.get("ProgramCheckpoint")


def test_program_checkpoint_save_freq_in_batches(tmp_path):
    saved = []

    class Saving(FakeProgram):
        def save(self, path):
            saved.append(os.path.basename(path))

    checkpoint = ProgramCheckpoint(tmp_path / "e{epoch}_b{batch}.json", save_freq=3)
    fake_fit([checkpoint], program=Saving(), epochs=2, steps=2)
    assert saved == ["e2_b1.json"]  # the 3rd batch: epoch 2, batch 1 (counted across epochs)
    saved.clear()
    fake_fit([ProgramCheckpoint(tmp_path / "e{epoch}.json")], program=Saving(), epochs=2, steps=2)
    assert saved == ["e1.json", "e2.json"]
    for bad in (0, "batch", 1.5, True):
        with pytest.raises(InvalidInputError, match=r"ProgramCheckpoint save_freq must be 'epoch' \(save at each "
                                                     r"epoch's end\) or a positive integer"):
            ProgramCheckpoint(tmp_path / "c.json", save_freq=bad)


def test_backup_and_restore_save_freq(tmp_path):
    written = []

    class Spy(FakeProgram):
        def _training_state(self):
            written.append((self.state["epoch"], self.state["batch"]))
            return super()._training_state()

    fake_fit([BackupAndRestore(tmp_path / "a", save_freq="epoch")], program=Spy(), epochs=2, steps=3)
    assert written == [(1, 0), (2, 0)]  # at each epoch's end only
    written.clear()
    fake_fit([BackupAndRestore(tmp_path / "b", save_freq=2)], program=Spy(), epochs=2, steps=3)
    # batches 2, 4 and 6 of the run (counted across epochs: epoch 2's batches 1 and 3), and the epoch ends
    assert written == [(0, 2), (1, 0), (1, 1), (1, 3), (2, 0)]
    with pytest.raises(InvalidInputError, match="BackupAndRestore save_freq must be 'epoch'"):
        BackupAndRestore(tmp_path, save_freq=-2)
    with pytest.raises(InvalidInputError, match="BackupAndRestore double_checkpoint must be True or False"):
        BackupAndRestore(tmp_path, double_checkpoint="yes")
    assert BackupAndRestore(tmp_path, "epoch", True, False).delete_checkpoint is False  # Synalinks' order


def run_stopper(values, **kwargs):
    stopper = EarlyStopping(monitor="val_reward", **kwargs)
    callback_list, ran = fake_fit([stopper], epochs=len(values), steps=1,
                                  epoch_logs=lambda epoch: {"val_reward": values[epoch]})
    return stopper, callback_list.program, len({epoch for epoch, _ in ran})


def test_early_stopping_stop_at():
    stopper, program, epochs = run_stopper([0.5, 1.0, 0.2, 0.3], patience=5)
    assert epochs == 2 and program.stop_training and stopper.stop_at == 1.0  # Synalinks' default target
    assert program.stop_reason == "EarlyStopping: val_reward reached stop_at=1.0 (1.0000 at epoch 2)."
    _, program, epochs = run_stopper([0.5, 0.7, 0.8], patience=5, stop_at=0.7)
    assert epochs == 2
    _, program, epochs = run_stopper([0.5, 1.0, 1.0], patience=5, stop_at=None)
    assert epochs == 3 and not program.stop_training
    assert EarlyStopping(monitor="val_total_cost").stop_at is None  # no target for a minimized value
    assert EarlyStopping(monitor="val_total_cost", stop_at=0.5)._reached(0.4)
    with pytest.raises(InvalidInputError, match=r"EarlyStopping stop_at must be a number \(the value to stop at\), "
                                                 r"'auto' or None, got 'high'"):
        EarlyStopping(stop_at="high")


def test_early_stopping_restore_best_variables_and_its_keras_alias():
    for kwargs in ({"restore_best_variables": True}, {"restore_best_weights": True}):
        stopper = EarlyStopping(**kwargs)
        assert stopper.restore_best_variables and stopper.restore_best_weights
    assert not EarlyStopping().restore_best_weights
    with pytest.raises(InvalidInputError, match=r"restore_best_variables=True and restore_best_weights=False: they "
                                                 r"are the same option"):
        EarlyStopping(restore_best_variables=True, restore_best_weights=False)
    with pytest.raises(InvalidInputError, match="restore_best_variables must be True or False, got 1"):
        EarlyStopping(restore_best_variables=1)


async def test_restore_best_variables_puts_back_the_best_epoch():
    program = await program_of()
    variable = program.trainable_variables[0]
    stopper = EarlyStopping(monitor="val_reward", restore_best_variables=True, patience=5, stop_at=None)
    stopper.set_program(program)
    stopper.on_train_begin({})
    variable.assign({**variable.get_json(), "instructions": "good"})
    stopper.on_epoch_end(0, {"val_reward": 0.9})
    variable.assign({**variable.get_json(), "instructions": "worse"})
    stopper.on_epoch_end(1, {"val_reward": 0.5})
    assert stopper.best_variables is not None and variable["instructions"] == "worse"
    stopper.on_train_end({})
    assert variable["instructions"] == "good"


def test_monitoring_a_per_field_metric_is_a_clear_error():
    stopper = EarlyStopping(monitor="f1_score")
    stopper.set_program(FakeProgram())
    stopper.on_train_begin({})
    with pytest.raises(InvalidInputError, match=r"monitors 'f1_score', which holds one value per field or label "
                                                 r"\(\[1\.0, 0\.5\]\), not one number\. Give the metric an average"):
        stopper.on_epoch_end(0, {"f1_score": [1.0, 0.5]})


# --- optimizers ---------------------------------------------------------------------------------------


async def test_optimizers_take_synalinks_arguments():
    lm = synaplex.LanguageModel(model="scripted", responses=[])
    em = synaplex.EmbeddingModel(model="scripted")
    omega = OMEGA(language_model=lm, embedding_model=em, description="evolves instructions",
                  reasoning_effort="low", use_chain_of_thought=False)
    assert omega.description == "evolves instructions" and omega.get_config()["description"] == "evolves instructions"
    schema = omega.candidate_schema("p", (await program_of()).trainable_variables[0])
    assert schema["required"] == ["instructions"] and "thinking" not in schema["properties"]
    assert "`thinking`" not in omega._system(False) and "`thinking`" not in omega._system(True)
    back = optimizers.deserialize(optimizers.serialize(omega))
    assert (back.reasoning_effort, back.use_chain_of_thought, back.description) == ("low", False,
                                                                                    "evolves instructions")
    assert RandomFewShot(description="baseline", sampling="random").description == "baseline"


def test_unsupported_optimizer_arguments_are_typed_errors():
    with pytest.raises(InvalidInputError, match=r"RandomFewShot\(sampling='softmax'\) is not supported: examples "
                                                 r"are drawn uniformly at random"):
        RandomFewShot(sampling="softmax")
    with pytest.raises(InvalidInputError, match=r"RandomFewShot\(population_size=\.\.\.\) is not supported: this "
                                                 r"optimizer keeps one best candidate per variable"):
        RandomFewShot(population_size=10)
    with pytest.raises(InvalidInputError, match=r"RandomFewShot got unknown argument\(s\) 'learning_rate'\. It "
                                                 r"takes: few_shot_learning, nb_min_examples"):
        RandomFewShot(learning_rate=0.1)
    lm = synaplex.LanguageModel(model="scripted", responses=[])
    em = synaplex.EmbeddingModel(model="scripted")
    with pytest.raises(InvalidInputError, match=r"OMEGA\(distance_function=\.\.\.\) is not supported: Dominated "
                                                 r"Novelty Search here measures the cosine distance"):
        OMEGA(language_model=lm, embedding_model=em, distance_function=lambda a, b: 0.0)
    with pytest.raises(InvalidInputError, match=r"OMEGA\(use_chain_of_thought=\.\.\.\) must be True or False"):
        OMEGA(language_model=lm, embedding_model=em, use_chain_of_thought="no")
    with pytest.raises(InvalidInputError, match=r"An optimizer's description must be a string, got 3"):
        RandomFewShot(description=3)


def test_omega_without_models_uses_the_configured_defaults_or_says_what_to_pass():
    with pytest.raises(MissingModelError, match=r"OMEGA needs language_model= \(it writes the new instructions "
                                                r"\(mutations and crossovers\)\): pass language_model=synaplex\."
                                                r"LanguageModel\(\.\.\.\), or set a default with synaplex\.config\."
                                                r"set_default_language_model"):
        OMEGA(description="no models")
    lm = synaplex.LanguageModel(model="scripted", responses=[])
    with pytest.raises(MissingModelError, match=r"OMEGA needs embedding_model= .*set_default_embedding_model"):
        OMEGA(language_model=lm)
    synaplex.config.set_default_language_model(lm)
    synaplex.config.set_default_embedding_model(synaplex.EmbeddingModel(model="scripted"))
    try:
        omega = optimizers.get("omega")
        assert isinstance(omega, OMEGA) and omega.language_model is lm
        assert isinstance(optimizers.get("OMEGA"), OMEGA)
    finally:
        synaplex.config.set_default_language_model(None)
        synaplex.config.set_default_embedding_model(None)
