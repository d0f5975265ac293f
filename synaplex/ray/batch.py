"""``synaplex.ray.predict`` and ``synaplex.ray.evaluate``: a program over a Ray Dataset.

The driver reads the dataset in order and cuts it into batches of ``batch_size`` rows, row
``i`` in batch ``i // batch_size``; a batch whose shard is already in ``output_path`` is
skipped (after checking that its input rows are the same). The other batches go to
``num_actors`` Ray actors (``map_batches`` with a callable class); each actor loads the
program once, with the caller's safe-loading policy, runs ``concurrency`` rows at a time
on one event loop, and writes the batch's Parquet shard. Ray restarts an actor that dies and
retries its batch. Once every batch has a shard the result is read back from the shards, in
row order, with the usage summed over all of them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import time
from typing import Any

from synaplex.backend.asyncio_utils import run_sync
from synaplex.backend.errors import InvalidInputError, SynaplexError
from synaplex.lm.base import Usage
from synaplex.lm.usage import track_usage
from synaplex.programs.program import Program
from synaplex.ray import shards
from synaplex.ray.errors import DatasetColumnError, DatasetFileNotFoundError, ShardMismatchError
from synaplex.ray.worker import ShardWorker
from synaplex.training import rewards as rewards_lib
from synaplex.training.trainer import EVALUATION_PHASES, _Run, _set_reward

_log = logging.getLogger("synaplex.ray")

_INSTALL = 'pip install "synaplex[ray]"'
_READERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


class BatchJobError(SynaplexError):
    """The Ray job stopped before every batch had its shard. The shards written so far stay in
    ``output_path``; running the same call again resumes from them."""


@dataclasses.dataclass
class PredictResult:
    """What :func:`predict` returns.

    ``dataset``: a ``ray.data.Dataset`` in input order: the input columns, ``row`` (the
    row's position), ``output`` (the program's output as JSON text; null when the row
    failed), ``error`` (``"<ErrorType>: <message>"``, null when it did not) and
    ``error_type``. ``usage``: the LM usage summed over every shard (every actor, and the
    earlier runs a resumed job skipped); ``run_usage``: this run's shards only.
    """

    dataset: Any
    output_path: str
    rows: int
    errors: int
    usage: Usage
    run_usage: Usage
    shards_written: int
    shards_skipped: int
    seconds: float


def _ray():
    try:
        import ray  # noqa: PLC0415 - the ray extra, loaded on first use
        import ray.data  # noqa: PLC0415 - the ray extra
    except ImportError:
        raise ImportError(f"synaplex.ray needs Ray Data. Install it with: {_INSTALL}") from None
    return ray


def _positive_int(value: Any, name: str, meaning: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer ({meaning}), got {value!r:.80}.")
    return value


# --- the program --------------------------------------------------------------------------

def _program(program: Any, custom_objects: dict | None, safe_mode: bool, allow: tuple) -> tuple:
    """``(program, file text, file name, worker load options)``. A Program object is the caller's
    own code: its workers load it as trusted. A file is loaded here first with the caller's
    policy, so a missing, bad or untrusted file fails before any actor starts."""
    if isinstance(program, Program):
        with tempfile.TemporaryDirectory(prefix="synaplex-ray-") as directory:
            path = os.path.join(directory, f"{program.name}.json")
            program.save(path)
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        return program, text, f"{program.name}.json", (custom_objects, False, ())
    if isinstance(program, (str, os.PathLike)):
        path = os.fspath(program)
        loaded = Program.load(path, custom_objects=custom_objects, safe_mode=safe_mode, allow=tuple(allow))
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        return loaded, text, os.path.basename(path), (custom_objects, safe_mode, tuple(allow))
    raise InvalidInputError(
        f"program must be a synaplex Program or the path of a saved program file, got {type(program).__name__}: "
        f"{program!r:.80}.")


def _input_fields(program: Program, columns: Any) -> dict[str, str]:
    if columns is not None:
        return _mapping(columns, "input_columns")
    graph = program._graph
    if graph is None:
        raise InvalidInputError(
            f"Program {program.name!r} has no graph yet (it builds itself on its first call), so its input fields "
            "are unknown: pass input_columns=[...] (or {field: column}).")
    if len(graph.inputs) != 1:
        raise InvalidInputError(
            f"Program {program.name!r} takes {len(graph.inputs)} inputs; synaplex.ray runs programs with one input "
            "(a row's columns are its fields). Wrap the inputs in one DataModel.")
    return {field: field for field in graph.inputs[0].get_schema().get("properties", {})}


def _mapping(columns: Any, name: str) -> dict[str, str]:
    if isinstance(columns, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in columns.items()):
        return dict(columns)
    if isinstance(columns, (list, tuple)) and all(isinstance(c, str) for c in columns):
        return {column: column for column in columns}
    raise InvalidInputError(
        f"{name} must be a list of column names or a dict {{field: column}}, got {type(columns).__name__}: "
        f"{columns!r:.80}.")


def _required(program: Program) -> set[str]:
    schema = program._graph.inputs[0].get_schema() if program._graph is not None else {}
    return set(schema.get("required", []))


def _check_columns(available: list[str], fields: dict[str, str], required: set[str], what: str) -> None:
    for field, column in fields.items():
        if column not in available and field in required:
            raise DatasetColumnError(
                f"The dataset has no column {column!r}, which {what} field {field!r} reads. Its columns are "
                f"{available}. Rename the column, or map it with {{'{field}': '<column>'}}.")
    clash = [c for c in available if c in shards.JOB_COLUMNS]
    if clash:
        raise DatasetColumnError(
            f"The dataset has a column named {clash[0]!r}, which synaplex.ray writes "
            f"({', '.join(shards.JOB_COLUMNS)}). Rename it (ds.rename_columns({...})) before running the job.")


# --- the dataset ----------------------------------------------------------------------------

def _dataset(ray: Any, dataset: Any) -> Any:
    if isinstance(dataset, ray.data.Dataset):
        return dataset
    paths = [dataset] if isinstance(dataset, (str, os.PathLike)) else dataset
    if not isinstance(paths, (list, tuple)) or not paths or not all(isinstance(p, (str, os.PathLike)) for p in paths):
        raise InvalidInputError(
            "dataset must be a ray.data.Dataset or the path (or a list of paths) of JSONL or Parquet files, got "
            f"{type(dataset).__name__}: {dataset!r:.80}.")
    paths = [os.fspath(p) for p in paths]
    kinds = set()
    for path in paths:
        if not os.path.isfile(path):
            raise DatasetFileNotFoundError(f"The dataset file {path!r} does not exist"
                                           + (" (it is a folder: pass its files)." if os.path.isdir(path) else "."))
        kind = _READERS.get(os.path.splitext(path)[1].lower())
        if kind is None:
            raise InvalidInputError(f"The dataset file {path!r} is neither JSONL (.jsonl, .json) nor Parquet "
                                    "(.parquet); read it into a ray.data.Dataset yourself.")
        kinds.add(kind)
    if len(kinds) > 1:
        raise InvalidInputError(f"The dataset files mix JSONL and Parquet: {paths}. Pass one kind.")
    if kinds == {"json"}:
        return ray.data.read_json(paths, lines=True)
    return ray.data.read_parquet(paths)


def _ordered_batches(dataset: Any, batch_size: int):
    """The dataset's rows in order, ``batch_size`` at a time, as pyarrow tables. Order is kept
    for this iteration only: the caller's dataset is left as it was."""
    options = dataset.context.execution_options
    before = options.preserve_order
    options.preserve_order = True
    try:
        yield from dataset.iter_batches(batch_size=batch_size, batch_format="pyarrow")
    finally:
        options.preserve_order = before


# --- the job ----------------------------------------------------------------------------------

def _run(kind: str, program: Any, dataset: Any, output_path: Any, batch_size: int, concurrency: int,
         num_actors: int, input_columns: Any, target_columns: Any, custom_objects: dict | None, safe_mode: bool,
         allow: tuple, ray_remote_args: dict | None) -> tuple[Program, dict, dict | None, list, dict]:
    _positive_int(batch_size, "batch_size", "rows per batch, and per shard")
    _positive_int(concurrency, "concurrency", "rows in flight at once in each actor")
    _positive_int(num_actors, "num_actors", "Ray actors, each with the program loaded")
    if ray_remote_args is not None and not isinstance(ray_remote_args, dict):
        raise InvalidInputError(f"ray_remote_args must be a dict of Ray options, got {ray_remote_args!r:.80}.")
    if not isinstance(output_path, (str, os.PathLike)):
        raise InvalidInputError(f"output_path must be the path of a folder for the shards, got {output_path!r:.80}.")
    output_path = os.path.abspath(os.fspath(output_path))
    if os.path.exists(output_path) and not os.path.isdir(output_path):
        raise InvalidInputError(f"output_path {output_path!r} is a file; it must be a folder for the shards.")

    program, text, filename, load_options = _program(program, custom_objects, safe_mode, allow)
    targets = None
    if kind == "evaluate":
        program._check_compiled("evaluate")
    input_fields = _input_fields(program, input_columns)

    ray = _ray()
    dataset = _dataset(ray, dataset)
    available = list(dataset.schema().names)
    _check_columns(available, input_fields, _required(program) if input_columns is None else set(input_fields),
                   f"program {program.name!r}'s input")
    if kind == "evaluate":
        targets = _target_fields(program, available, input_fields, target_columns)

    os.makedirs(output_path, exist_ok=True)
    shards.check_manifest(output_path, {
        "format": shards.MANIFEST_FORMAT, "kind": kind, "program_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "batch_size": batch_size, "input_fields": input_fields, "target_fields": targets})
    files_removed = [n for n in os.listdir(output_path) if n.endswith(".synaplex-tmp")]
    for name in files_removed:  # batches a killed actor was writing: they run again
        os.unlink(os.path.join(output_path, name))

    import pyarrow as pa  # noqa: PLC0415 - the ray extra

    finished = shards.finished_shards(output_path)
    pending, ranges, skipped = [], [], 0
    for index, table in enumerate(_ordered_batches(dataset, batch_size)):
        start = index * batch_size
        end = start + table.num_rows
        ranges.append((start, end))
        if (start, end) in finished:
            if shards.shard_metadata(finished[(start, end)]).get("input_sha256") != shards.input_digest(table):
                raise ShardMismatchError(
                    f"The shard {finished[(start, end)]!r} was made from other rows than rows {start}-{end - 1} of "
                    "this dataset: the dataset changed since that run. Write this job to another folder.")
            skipped += 1
            continue
        pending.append(table.append_column(shards.ROW, pa.array(range(start, end), pa.int64())))
    if not ranges:
        raise InvalidInputError(f"{kind}() needs examples: the dataset is empty.")
    stray = sorted(set(finished) - set(ranges))
    if stray:
        raise ShardMismatchError(
            f"{output_path!r} holds a shard of rows {stray[0][0]}-{stray[0][1] - 1}, which this dataset (of "
            f"{ranges[-1][1]} rows) does not cut into: the dataset changed since that run. Write this job to another "
            "folder.")

    report = {"shards_written": len(pending), "shards_skipped": skipped, "rows": ranges[-1][1]}
    run_ranges = [r for r in ranges if r not in finished]
    if pending:
        _log.info("synaplex.ray.%s: %d batches to run, %d already in %s", kind, len(pending), skipped, output_path)
        worker_args = {"program_text": text, "filename": filename, "custom_objects": load_options[0],
                       "safe_mode": load_options[1], "allow": load_options[2], "kind": kind,
                       "input_fields": input_fields, "target_fields": targets, "batch_size": batch_size,
                       "concurrency": concurrency, "output_path": output_path}
        mapped = ray.data.from_arrow(pending).map_batches(
            ShardWorker, fn_constructor_kwargs=worker_args, batch_size=batch_size, batch_format="pyarrow",
            concurrency=num_actors, **(ray_remote_args or {}))  # e.g. num_cpus, runtime_env, max_restarts
        try:
            for _ in mapped.iter_batches(batch_size=None):
                pass
        except Exception as error:
            done = len(shards.finished_shards(output_path))
            raise BatchJobError(
                f"The Ray job stopped before every batch was written ({done} of {len(ranges)} shards are in "
                f"{output_path!r}): {type(error).__name__}: {str(error)[:500]}. Run the same call again to resume "
                "from the shards written.") from error
    finished = shards.finished_shards(output_path)
    missing = [r for r in ranges if r not in finished]
    if missing:
        raise BatchJobError(f"The Ray job ended without the shards of rows {missing[0][0]}-{missing[0][1] - 1} "
                            f"({len(missing)} missing) in {output_path!r}. Run the same call again to resume.")
    report["run_paths"] = [finished[r] for r in run_ranges]
    return program, report, targets, [finished[r] for r in ranges]


def _target_fields(program: Program, available: list[str], input_fields: dict, target_columns: Any) -> dict | None:
    required = list(getattr(program.reward, "in_mask", None) or [])
    if target_columns is not None:
        targets = _mapping(target_columns, "target_columns")
        for field, column in targets.items():
            if column not in available:
                raise DatasetColumnError(
                    f"The dataset has no column {column!r} (target_columns' field {field!r}). Its columns are "
                    f"{available}.")
    else:
        output = program._graph.outputs[0].get_schema() if program._graph is not None else {}
        used = set(input_fields.values())
        targets = {f: f for f in output.get("properties", {}) if f in available and f not in used}
    for field in required:
        if field not in targets:
            raise DatasetColumnError(
                f"The dataset has no target column for the field {field!r}, which the reward's in_mask={required} "
                f"compares. Its columns are {available}. Pass target_columns={{'{field}': '<column>'}}.")
    if not targets:
        if getattr(program.reward, "needs_ground_truth", True):
            raise DatasetColumnError(
                f"evaluate() needs targets: the reward {type(program.reward).__name__} compares each prediction with "
                f"its expected output, and no column of the dataset ({available}) is a field of the program's output. "
                "Pass target_columns=[...].")
        return None
    return targets


def _usage_of(paths: list[str], phases: tuple) -> dict[str, Usage]:
    totals = {phase: Usage() for phase in phases}
    for path in paths:
        usage = shards.shard_metadata(path).get("usage", {})
        for phase in phases:
            totals[phase].add(shards.usage_from_dict(usage.get(phase)))
    return totals


def _read_ordered(ray: Any, paths: list[str]) -> Any:
    dataset = ray.data.read_parquet(paths)
    dataset.context.execution_options.preserve_order = True
    return dataset


# --- the public functions -------------------------------------------------------------------

def predict(program: Any, dataset: Any, *, output_path: Any, batch_size: int = 32, concurrency: int = 8,
            num_actors: int = 1, input_columns: Any = None, custom_objects: dict | None = None,
            safe_mode: bool = True, allow: tuple = (), ray_remote_args: dict | None = None) -> PredictResult:
    """Run ``program`` on every row of ``dataset`` on Ray; every row gets an output or its error.

    Args:
        program: a ``Program``, or the path of a saved program file (loaded safely, with
            ``custom_objects``, ``safe_mode`` and ``allow`` as ``Program.load`` takes them,
            here and in every actor).
        dataset: a ``ray.data.Dataset``, or the path (or list of paths) of JSONL or Parquet
            files. Each row's columns are the fields of the program's input.
        output_path: the folder of the Parquet shards. A rerun with the same arguments skips
            the batches whose shard is there (resume after a crash).
        batch_size: rows per batch, the unit of work, retry and shard.
        concurrency: rows running at once in each actor (asyncio).
        num_actors: Ray actors; each loads the program once.
        input_columns: which columns feed which input fields (a list of names, or
            ``{field: column}``); by default the fields of the program's input schema.
        ray_remote_args: Ray options for the actors (``num_cpus``, ``runtime_env``, ...).

    Example:
        >>> import ray, synaplex.ray
        >>> result = synaplex.ray.predict("qa.json", "questions.jsonl", output_path="out/",
        ...                               num_actors=4, concurrency=32)
        >>> result.dataset.take(1), result.errors, result.usage.cost
    """
    began = time.perf_counter()
    _, report, _, paths = _run("predict", program, dataset, output_path, batch_size, concurrency, num_actors,
                                      input_columns, None, custom_objects, safe_mode, allow, ray_remote_args)
    usage = _usage_of(paths, ("inference",))["inference"]
    run_usage = _usage_of(report["run_paths"], ("inference",))["inference"]
    errors = sum(shards.shard_metadata(p).get("errors", 0) for p in paths)
    result = PredictResult(dataset=_read_ordered(_ray(), paths), output_path=os.path.dirname(paths[0]),
                           rows=report["rows"], errors=errors, usage=usage, run_usage=run_usage,
                           shards_written=report["shards_written"], shards_skipped=report["shards_skipped"],
                           seconds=time.perf_counter() - began)
    _log.info("synaplex.ray.predict: %d rows, %d errors, %d shards written, %d skipped; usage %s", result.rows,
              result.errors, result.shards_written, result.shards_skipped, usage)
    return result


def evaluate(program: Any, dataset: Any, *, output_path: Any, batch_size: int = 32, concurrency: int = 8,
             num_actors: int = 1, input_columns: Any = None, target_columns: Any = None,
             custom_objects: dict | None = None, safe_mode: bool = True, allow: tuple = (),
             ray_remote_args: dict | None = None) -> dict:
    """``program.evaluate`` on Ray: the same logs (``reward``, the metrics, ``errors``, the
    usage per phase), with the same numbers on the same data.

    The program must be compiled (a Program object, or a file saved after ``compile``).
    Actors run and score the rows (each row's reward, as ``program.evaluate`` computes it);
    the driver then aggregates them in row order, in batches of ``batch_size`` as
    ``program.evaluate(batch_size=...)`` does, so batch metrics and a ``BatchReward`` see
    the same batches (a ``BatchReward`` is computed by the driver). ``target_columns``: the
    columns holding the expected outputs (a list, or ``{field: column}``); by default the
    dataset's columns named like fields of the program's output. Other arguments as
    :func:`predict`; the predictions and per-row rewards stay in ``output_path``'s shards.
    """
    program, report, targets, paths = _run("evaluate", program, dataset, output_path, batch_size, concurrency,
                                              num_actors, input_columns, target_columns, custom_objects, safe_mode,
                                              allow, ray_remote_args)
    logs = run_sync(_aggregate(program, paths, targets, batch_size))
    _log.info("synaplex.ray.evaluate: %d rows, %d shards written, %d skipped: %s", report["rows"],
              report["shards_written"], report["shards_skipped"], logs)
    return logs


async def _aggregate(program: Program, paths: list[str], targets: dict | None, batch_size: int) -> dict:
    """``Trainer._evaluate``'s aggregation over the shards' records, in row order."""
    import pyarrow.parquet as pq  # noqa: PLC0415 - the ray extra

    columns = [shards.ROW, shards.OUTPUT, shards.ERROR, shards.REWARD] + sorted(set((targets or {}).values()))
    records, ys = [], [] if targets is not None else None
    for path in paths:
        for row in pq.read_table(path, columns=columns).to_pylist():
            output = row[shards.OUTPUT]
            records.append({"y_pred": json.loads(output) if output is not None else None, "reward": row[shards.REWARD],
                            "error": row[shards.ERROR], "y_true": None, "traces": []})
            if ys is not None:
                ys.append({field: row[column] for field, column in targets.items() if row[column] is not None})
    run = _Run()
    for phase, usage in _usage_of(paths, EVALUATION_PHASES).items():
        run.add(phase, usage)
    program._reset_metrics()
    rewards: list[float] = []
    batch_reward = isinstance(program.reward, rewards_lib.BatchReward)
    for start in range(0, len(records), batch_size):
        indices = list(range(start, min(start + batch_size, len(records))))
        batch = [records[i] for i in indices]
        if batch_reward:
            with track_usage() as used:
                values = await program.reward.compute_batch([ys[i] if ys is not None else None for i in indices],
                                                            [r["y_pred"] if r["error"] is None else None
                                                             for r in batch])
            run.add("reward", used.total)
            for record, value in zip(batch, values):
                _set_reward(record, 0.0 if record["error"] is not None else value)
        await program._update_metrics(batch, ys, indices)
        rewards.extend(r["reward"] for r in batch)
    logs = {"reward": sum(rewards) / len(rewards) if rewards else None, **program._metric_logs(run),
            "errors": sum(r["error"] is not None for r in records)}
    for phase in EVALUATION_PHASES:
        usage = run.phases[phase]
        logs.update({f"{phase}_calls": usage.calls, f"{phase}_tokens": usage.total_tokens,
                     f"{phase}_cost": usage.cost})
    return logs


__all__ = ["BatchJobError", "PredictResult", "evaluate", "predict"]
