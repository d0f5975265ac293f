"""The Ray actor of a batch job: loads the program once, runs each batch's rows with asyncio
concurrency, writes the batch's shard, and returns a one-row summary.

A row never disappears: its output is JSON text in ``output``, or its failure is
``error`` (``"<ErrorType>: <message>"``) and ``error_type``. If the actor dies mid-batch,
Ray restarts it and runs the batch again; the shard is written only once the whole batch
is done, so a shard never holds part of a batch.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from typing import Any

from synaplex.lm.base import Usage
from synaplex.lm.usage import track_usage
from synaplex.programs.program import Program
from synaplex.ray import shards
from synaplex.training.trainer import EVALUATION_PHASES, _Run


def to_json(value: Any) -> Any:
    """A program's output as JSON: DataModels and JsonDataModels by their JSON, lists (several
    outputs) item by item, ``None`` (a branch not taken) as ``None``."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "get_json"):
        return value.get_json()
    if isinstance(value, dict):
        return value
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    raise TypeError(f"the program returned {type(value).__name__}, which is not JSON: {value!r:.80}")


def load_program(text: str, filename: str, custom_objects: dict | None, safe_mode: bool, allow: tuple) -> Program:
    """Load a program from the text of its file, with the caller's safe-loading policy."""
    with tempfile.TemporaryDirectory(prefix="synaplex-ray-") as directory:
        path = os.path.join(directory, filename)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return Program.load(path, custom_objects=custom_objects, safe_mode=safe_mode, allow=allow)


def row_inputs(row: dict, fields: dict[str, str]) -> dict:
    """The program's input for a row: ``{field: row[column]}``; a null is a missing field."""
    return {field: row[column] for field, column in fields.items() if row.get(column) is not None}


def error_columns(error: BaseException | None) -> tuple[str | None, str | None]:
    if error is None:
        return None, None
    return f"{type(error).__name__}: {error}", type(error).__name__


class ShardWorker:
    """``map_batches`` callable class: one per actor (see :func:`synaplex.ray.predict`)."""

    def __init__(self, program_text: str, filename: str, custom_objects: dict | None, safe_mode: bool,
                 allow: tuple, kind: str, input_fields: dict, target_fields: dict | None, batch_size: int,
                 concurrency: int, output_path: str):
        self.program = load_program(program_text, filename, custom_objects, safe_mode, allow)
        self.kind, self.input_fields, self.target_fields = kind, input_fields, target_fields
        self.batch_size, self.concurrency, self.output_path = batch_size, concurrency, output_path
        # One event loop for the actor's life: the LM clients (one per loop) stay open between batches.
        self.runner = asyncio.Runner()

    def __call__(self, batch: Any) -> dict:
        import pyarrow as pa  # noqa: PLC0415 - the ray extra

        rows = batch.column(shards.ROW).to_pylist()
        written, errors = [], 0
        # A batch is one shard; should Ray ever hand over several, each is written on its own.
        start = 0
        while start < len(rows):
            shard = rows[start] // self.batch_size
            end = start
            while end < len(rows) and rows[end] // self.batch_size == shard:
                end += 1
            part = batch.slice(start, end - start)
            errors += self.run_shard(part, pa)
            written.append(rows[start])
            start = end
        return {"first_row": written, "errors": [errors] * len(written)}

    def run_shard(self, table: Any, pa: Any) -> int:
        rows = table.to_pylist()
        began = time.perf_counter()
        if self.kind == "evaluate":
            results, phases = self.runner.run(self.evaluate_rows(rows))
        else:
            results, phases = self.runner.run(self.predict_rows(rows))
        seconds = time.perf_counter() - began
        outputs, error_texts, error_types, rewards = zip(*results)
        table = (table.append_column(shards.OUTPUT, pa.array(outputs, pa.string()))
                 .append_column(shards.ERROR, pa.array(error_texts, pa.string()))
                 .append_column(shards.ERROR_TYPE, pa.array(error_types, pa.string())))
        if self.kind == "evaluate":
            table = table.append_column(shards.REWARD, pa.array(rewards, pa.float64()))
        first, last = rows[0][shards.ROW], rows[-1][shards.ROW]
        errors = sum(text is not None for text in error_texts)
        shards.write_shard(self.output_path, first, last + 1, table, {
            "input_sha256": shards.input_digest(table), "rows": len(rows), "errors": errors,
            "seconds": seconds, "usage": {phase: usage.as_dict() for phase, usage in phases.items()}})
        return errors

    async def predict_rows(self, rows: list[dict]) -> tuple[list, dict[str, Usage]]:
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(row: dict) -> tuple:
            async with semaphore:
                try:
                    output = json.dumps(to_json(await self.program(row_inputs(row, self.input_fields))),
                                        ensure_ascii=False)
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # a failed row is kept with its typed error, never dropped
                    return (None, *error_columns(error), None)
                return (output, None, None, None)

        with track_usage() as used:
            results = await asyncio.gather(*(one(row) for row in rows))
        return results, {"inference": used.total}

    async def evaluate_rows(self, rows: list[dict]) -> tuple[list, dict[str, Usage]]:
        """Each row as ``program.evaluate`` scores it (``Trainer._score``): the prediction, its
        reward (0 for a failed row; ``None`` for a BatchReward, scored by the driver per batch),
        and the usage per phase."""
        semaphore = asyncio.Semaphore(self.concurrency)
        run = _Run()

        async def one(row: dict) -> tuple:
            y_true = row_inputs(row, self.target_fields) if self.target_fields is not None else None
            async with semaphore:
                record = await self.program._score(row_inputs(row, self.input_fields), y_true, run, training=False)
            error = record["error"]
            output = None if error is not None else json.dumps(record["y_pred"], ensure_ascii=False)
            return (output, *error_columns(error), record["reward"])

        results = await asyncio.gather(*(one(row) for row in rows))
        return results, {phase: run.phases[phase] for phase in EVALUATION_PHASES}
