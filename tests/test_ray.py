"""synaplex.ray on a real local Ray cluster (2 CPUs): predict and evaluate over 1,000 rows
with the scripted model, an actor killed mid-run, a run interrupted and resumed from its
shards, and every bad input as a typed error."""

import json
import os
import subprocess
import sys

import pytest

import synaplex
from synaplex.errors import InvalidInputError, SavingError, UnsafeLoadError
from tests.ray_helpers import crash_once_reply, share_correct, upper_reply

ray = pytest.importorskip("ray")  # the ray extra is in the test extra: present wherever the suite runs
import synaplex.ray  # noqa: E402
from synaplex.ray import (  # noqa: E402
    BatchJobError,
    DatasetColumnError,
    DatasetFileNotFoundError,
    ShardMismatchError,
)

pytestmark = pytest.mark.integration

ROWS = 1000


class Query(synaplex.DataModel):
    query: str


class Answer(synaplex.DataModel):
    answer: str


def make_program(reply=upper_reply, name="qa"):
    async def build():
        lm = synaplex.LanguageModel(model="scripted", responses=reply)
        inputs = synaplex.Input(data_model=Query)
        outputs = await synaplex.Generator(data_model=Answer, language_model=lm, name="gen")(inputs)
        return synaplex.Program(inputs=inputs, outputs=outputs, name=name)

    return _run(build())


def _run(coroutine):
    import asyncio

    return asyncio.run(coroutine)


def queries(n=ROWS, fail_every=100):
    """Rows ``q<i>``; every ``fail_every``-th (from 7) is a ``fail<i>`` row the reply breaks."""
    return [{"query": f"fail{i}" if i % fail_every == 7 else f"q{i}"} for i in range(n)]


def shard_rows(path):
    import pyarrow.parquet as pq

    rows = []
    for name in sorted(os.listdir(path)):
        if name.endswith(".parquet"):
            rows.extend(pq.read_table(os.path.join(path, name)).to_pylist())
    return rows


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


# --- predict ----------------------------------------------------------------------------------

def test_predict_gives_every_row_its_output_or_typed_error_in_order(cluster, tmp_path):
    program = make_program()
    dataset = ray.data.from_items(queries())
    result = synaplex.ray.predict(program, dataset, output_path=tmp_path / "out", batch_size=50, concurrency=16,
                                  num_actors=2)

    rows = result.dataset.take_all()  # the returned Ray Dataset, read back in input order
    assert [row["row"] for row in rows] == list(range(ROWS))
    assert [row["query"] for row in rows] == [q["query"] for q in queries()]
    for i, row in enumerate(rows):
        if i % 100 == 7:
            assert row["output"] is None
            assert row["error_type"] == "StructuredOutputError"
            assert row["error"].startswith("StructuredOutputError: ") and f"fail{i}" in row["error"]
        else:
            assert json.loads(row["output"]) == {"answer": f"Q{i}"}
            assert row["error"] is None and row["error_type"] is None
    assert (result.rows, result.errors) == (ROWS, 10)
    assert (result.shards_written, result.shards_skipped) == (20, 0)
    # usage summed over both actors' shards: one call per row, each ~8 input tokens estimated
    assert result.usage.calls == ROWS
    assert result.usage.input_tokens > 0 and result.usage.cost == 0.0
    assert result.run_usage.calls == ROWS
    assert sorted(os.listdir(tmp_path / "out")) == ["_synaplex_job.json"] + [
        f"rows-{s:012d}-{s + 50:012d}.parquet" for s in range(0, ROWS, 50)]


def test_killed_actor_batch_is_retried_and_no_row_is_lost(cluster, tmp_path):
    marker = tmp_path / "actor-was-killed"
    data = queries(fail_every=ROWS + 1)
    data[500] = {"query": f"crash-once:{marker}"}
    result = synaplex.ray.predict(make_program(crash_once_reply), ray.data.from_items(data),
                                  output_path=tmp_path / "out", batch_size=50, concurrency=8, num_actors=2)

    assert marker.exists()  # the actor running row 500 did die (os._exit), mid-batch
    assert int(marker.read_text()) != os.getpid()
    rows = shard_rows(tmp_path / "out")
    assert [row["row"] for row in rows] == list(range(ROWS))
    assert [row["error"] for row in rows] == [None] * ROWS
    assert json.loads(rows[500]["output"]) == {"answer": f"CRASH-ONCE:{marker}".upper()}
    assert result.errors == 0 and result.rows == ROWS
    # the dead actor's batch left no shard behind; its rerun's calls are the ones counted
    assert result.usage.calls == ROWS


def test_interrupted_run_resumes_from_its_shards(cluster, tmp_path):
    marker = tmp_path / "crashed-once"
    data = queries(fail_every=ROWS + 1)
    data[700] = {"query": f"crash-once:{marker}"}
    program = make_program(crash_once_reply)
    out = tmp_path / "out"
    # no restarts: the crash ends the job, as a killed driver or a lost cluster would
    with pytest.raises(BatchJobError) as caught:
        synaplex.ray.predict(program, ray.data.from_items(data), output_path=out, batch_size=100, concurrency=8,
                             num_actors=1, ray_remote_args={"max_restarts": 0})
    assert "Run the same call again to resume" in str(caught.value)
    before = {name: os.stat(out / name).st_mtime_ns for name in os.listdir(out) if name.endswith(".parquet")}
    assert "rows-000000000700-000000000800.parquet" not in before
    assert before  # some batches were done before the crash

    result = synaplex.ray.predict(program, ray.data.from_items(data), output_path=out, batch_size=100,
                                  concurrency=8, num_actors=1)
    assert result.shards_skipped == len(before)
    assert result.shards_written == 10 - len(before)
    for name, mtime in before.items():  # finished shards were not run again
        assert os.stat(out / name).st_mtime_ns == mtime
    assert result.run_usage.calls == 100 * result.shards_written
    assert result.usage.calls == ROWS
    rows = shard_rows(out)
    assert [row["row"] for row in rows] == list(range(ROWS))
    assert all(row["error"] is None for row in rows)


def test_rerun_with_another_batch_size_program_or_dataset_is_refused(cluster, tmp_path):
    program = make_program()
    dataset = ray.data.from_items(queries(20))
    synaplex.ray.predict(program, dataset, output_path=tmp_path, batch_size=10)
    with pytest.raises(ShardMismatchError, match="its batch_size was 10, this job's is 5"):
        synaplex.ray.predict(program, dataset, output_path=tmp_path, batch_size=5)
    with pytest.raises(ShardMismatchError, match="its program_sha256 was"):
        synaplex.ray.predict(make_program(name="other"), dataset, output_path=tmp_path, batch_size=10)
    changed = ray.data.from_items([{"query": "changed"}] + queries(20)[1:])
    with pytest.raises(ShardMismatchError, match="was made from other rows than rows 0-9"):
        synaplex.ray.predict(program, changed, output_path=tmp_path, batch_size=10)
    longer = ray.data.from_items(queries(25))
    result = synaplex.ray.predict(program, longer, output_path=tmp_path, batch_size=10)
    assert (result.shards_skipped, result.shards_written, result.rows) == (2, 1, 25)
    with pytest.raises(ShardMismatchError, match="holds a shard of rows 20-24, which this dataset"):
        synaplex.ray.predict(program, dataset, output_path=tmp_path, batch_size=10)


def test_saved_program_file_and_jsonl_and_parquet_paths(cluster, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "qa.json"
    make_program().save(path)
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text("".join(json.dumps(q) + "\n" for q in queries(30)))
    parquet = tmp_path / "q.parquet"
    pq.write_table(pa.Table.from_pylist(queries(30)), parquet)

    # the file names a reply function by import path: safe loading needs it supplied
    for source, out in ((jsonl, "a"), (parquet, "b")):
        result = synaplex.ray.predict(str(path), source, output_path=tmp_path / out, batch_size=8,
                                      custom_objects={"upper_reply": upper_reply})
        rows = shard_rows(tmp_path / out)
        assert [r["query"] for r in rows] == [q["query"] for q in queries(30)]
        assert [r["output"] is None for r in rows] == [i == 7 for i in range(30)]
        assert result.errors == 1


# --- evaluate ----------------------------------------------------------------------------------

def labelled(n=ROWS):
    # the expected answer is right for two rows in three, and 'fail' rows fail
    return [{**q, "answer": f"Q{i}" if i % 3 else "wrong"} for i, q in enumerate(queries(n))]


def test_evaluate_gives_the_numbers_program_evaluate_gives(cluster, tmp_path):
    program = make_program()
    program.compile(reward=synaplex.rewards.ExactMatch(in_mask=["answer"]),
                    metrics=[synaplex.metrics.F1Score(in_mask=["answer"]), "accuracy",
                             synaplex.metrics.LMUsage(kind="calls"), synaplex.metrics.LMUsage(kind="tokens")])
    data = labelled()
    x = [Query(query=row["query"]) for row in data]
    y = [Answer(answer=row["answer"]) for row in data]
    expected = _run(program.evaluate(x=x, y=y, batch_size=50, verbose=0))

    logs = synaplex.ray.evaluate(program, ray.data.from_items(data), output_path=tmp_path, batch_size=50,
                                 concurrency=16, num_actors=2)
    assert logs == expected
    assert logs["errors"] == 10 and logs["inference_calls"] == ROWS
    assert logs["reward"] == pytest.approx(sum(1 for i in range(ROWS) if i % 3 and i % 100 != 7) / ROWS)
    rows = shard_rows(tmp_path)
    assert [row["reward"] for row in rows[:4]] == [0.0, 1.0, 1.0, 0.0]


def test_evaluate_with_a_batch_reward_uses_program_evaluates_batches(cluster, tmp_path):
    program = make_program()
    program.compile(reward=synaplex.rewards.BatchRewardFunctionWrapper(fn=share_correct))
    data = labelled(90)
    expected = _run(program.evaluate(x=[Query(query=r["query"]) for r in data],
                                     y=[Answer(answer=r["answer"]) for r in data], batch_size=20, verbose=0))
    logs = synaplex.ray.evaluate(program, ray.data.from_items(data), output_path=tmp_path, batch_size=20,
                                 custom_objects={"share_correct": share_correct, "upper_reply": upper_reply})
    assert logs == expected
    # another partition gives another number: the batches are what make it the same
    other = _run(program.evaluate(x=[Query(query=r["query"]) for r in data],
                                  y=[Answer(answer=r["answer"]) for r in data], batch_size=30, verbose=0))
    assert other["reward"] != logs["reward"]


# --- bad inputs ----------------------------------------------------------------------------------

def test_missing_program_file(tmp_path):
    with pytest.raises(SavingError, match=r"Cannot load '.*missing\.json': the file does not exist"):
        synaplex.ray.predict(str(tmp_path / "missing.json"), [], output_path=tmp_path / "out")


def test_program_file_needing_trust_without_allow(tmp_path):
    path = tmp_path / "qa.json"
    make_program().save(path)
    with pytest.raises(UnsafeLoadError, match=r"in safe mode.*responses_callable.*allow=\('imports',\)") as caught:
        synaplex.ray.predict(str(path), str(tmp_path / "q.jsonl"), output_path=tmp_path / "out")
    assert caught.value.capability == "imports"
    assert not (tmp_path / "out").exists()  # refused before anything ran or was written


def test_missing_dataset_file_and_unsupported_kinds(tmp_path):
    program = make_program()
    with pytest.raises(DatasetFileNotFoundError, match=r"The dataset file '.*nope\.jsonl' does not exist\.") as caught:
        synaplex.ray.predict(program, str(tmp_path / "nope.jsonl"), output_path=tmp_path / "out")
    assert isinstance(caught.value, FileNotFoundError)
    with pytest.raises(DatasetFileNotFoundError, match="it is a folder: pass its files"):
        synaplex.ray.predict(program, str(tmp_path), output_path=tmp_path / "out")
    (tmp_path / "q.csv").write_text("query\nx\n")
    with pytest.raises(InvalidInputError, match=r"is neither JSONL \(\.jsonl, \.json\) nor Parquet"):
        synaplex.ray.predict(program, str(tmp_path / "q.csv"), output_path=tmp_path / "out")
    with pytest.raises(InvalidInputError, match="dataset must be a ray.data.Dataset or the path"):
        synaplex.ray.predict(program, {"query": "x"}, output_path=tmp_path / "out")


@pytest.mark.parametrize("name, value, meaning", [
    ("concurrency", 0, "rows in flight at once in each actor"),
    ("concurrency", True, "rows in flight at once in each actor"),
    ("concurrency", "8", "rows in flight at once in each actor"),
    ("batch_size", -1, "rows per batch, and per shard"),
    ("num_actors", 1.5, "Ray actors, each with the program loaded"),
])
def test_bad_sizes(tmp_path, name, value, meaning):
    with pytest.raises(InvalidInputError, match=rf"{name} must be a positive integer \({meaning}\), got {value!r}"):
        synaplex.ray.predict(make_program(), [], output_path=tmp_path, **{name: value})


def test_bad_output_path_and_program(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidInputError, match="is a file; it must be a folder for the shards"):
        synaplex.ray.predict(make_program(), [], output_path=tmp_path / "file")
    with pytest.raises(InvalidInputError, match="program must be a synaplex Program or the path of a saved program"):
        synaplex.ray.predict(42, [], output_path=tmp_path)


def test_bad_dataset_columns(cluster, tmp_path):
    program = make_program()
    with pytest.raises(DatasetColumnError, match=r"The dataset has no column 'query', which program 'qa''s input "
                                                 r"field 'query' reads\. Its columns are \['question'\]"):
        synaplex.ray.predict(program, ray.data.from_items([{"question": "x"}]), output_path=tmp_path)
    # mapped, it runs
    result = synaplex.ray.predict(program, ray.data.from_items([{"question": "x"}]), output_path=tmp_path / "m",
                                  input_columns={"query": "question"})
    assert shard_rows(tmp_path / "m")[0]["output"] == '{"answer": "X"}' and result.errors == 0
    with pytest.raises(DatasetColumnError, match="has a column named 'error', which synaplex.ray writes"):
        synaplex.ray.predict(program, ray.data.from_items([{"query": "x", "error": 1}]), output_path=tmp_path)
    with pytest.raises(InvalidInputError, match="the dataset is empty"):
        synaplex.ray.predict(program, ray.data.from_items([{"query": "x"}]).filter(lambda r: False),
                             output_path=tmp_path / "empty")
    with pytest.raises(InvalidInputError, match="input_columns must be a list of column names or a dict"):
        synaplex.ray.predict(program, ray.data.from_items([{"query": "x"}]), output_path=tmp_path,
                             input_columns="query")


def test_evaluate_bad_inputs(cluster, tmp_path):
    program = make_program()
    with pytest.raises(synaplex.errors.NotCompiledError, match="is not compiled"):
        synaplex.ray.evaluate(program, ray.data.from_items(queries(3)), output_path=tmp_path)
    program.compile(reward=synaplex.rewards.ExactMatch(in_mask=["answer"]))
    with pytest.raises(DatasetColumnError, match=r"no target column for the field 'answer', which the reward's "
                                                 r"in_mask=\['answer'\] compares"):
        synaplex.ray.evaluate(program, ray.data.from_items(queries(3)), output_path=tmp_path)
    with pytest.raises(DatasetColumnError, match=r"no column 'gold' \(target_columns' field 'answer'\)"):
        synaplex.ray.evaluate(program, ray.data.from_items(queries(3)), output_path=tmp_path,
                              target_columns={"answer": "gold"})


# --- without a cluster ---------------------------------------------------------------------------

def test_importing_synaplex_ray_loads_neither_ray_nor_pyarrow():
    code = ("import sys, json, synaplex, synaplex.ray; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'pyarrow', 'pandas'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
