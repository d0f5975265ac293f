"""The output folder of a batch job: Parquet shards, one per batch of rows, and a manifest.

A shard ``rows-<start>-<end>.parquet`` holds rows ``start`` to ``end - 1`` of the input
(their input columns and the job's columns), written to a temporary file, fsynced and
renamed, so a shard is there whole or not at all. Its Parquet metadata records the digest of
its input rows and the usage of the LM calls that made it. The manifest
``_synaplex_job.json`` records what the shards were made by (the kind of job, the program's
digest, the batch size, the column mapping); a rerun against another job's shards is a
:class:`~synaplex.ray.errors.ShardMismatchError`, never a silent mix.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from typing import Any

from synaplex.lm.base import Usage
from synaplex.ray.errors import ShardMismatchError
from synaplex.serialization import files

ROW = "row"
OUTPUT = "output"
ERROR = "error"
ERROR_TYPE = "error_type"
REWARD = "reward"
JOB_COLUMNS = (ROW, OUTPUT, ERROR, ERROR_TYPE, REWARD)

MANIFEST = "_synaplex_job.json"
MANIFEST_FORMAT = "synaplex.ray.job"
METADATA_KEY = b"synaplex.shard"
_SHARD = re.compile(r"rows-(\d{12})-(\d{12})\.parquet\Z")


def shard_name(start: int, end: int) -> str:
    return f"rows-{start:012d}-{end:012d}.parquet"


def finished_shards(directory: str) -> dict[tuple[int, int], str]:
    """``{(start, end): path}`` of the shards in ``directory``."""
    found = {}
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(directory):
            match = _SHARD.match(name)
            if match:
                found[(int(match.group(1)), int(match.group(2)))] = os.path.join(directory, name)
    return found


def input_digest(table: Any) -> str:
    """A digest of a batch's input rows (every column but the job's): a resumed run checks
    that a finished shard was made from the same rows."""
    columns = [name for name in table.column_names if name not in JOB_COLUMNS]
    rows = table.select(columns).to_pylist()
    text = json.dumps(rows, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def write_shard(directory: str, start: int, end: int, table: Any, metadata: dict) -> str:
    """Write ``table`` as the shard of rows ``[start, end)``, atomically and durably."""
    import pyarrow.parquet as pq  # noqa: PLC0415 - the ray extra (pyarrow), loaded by the workers only

    path = os.path.join(directory, shard_name(start, end))
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(metadata).encode()})
    descriptor, temporary = tempfile.mkstemp(prefix=f".{shard_name(start, end)}.{os.getpid()}.",
                                             suffix=files.TEMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            pq.write_table(table, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    files.fsync_directory(directory)
    return path


def shard_metadata(path: str) -> dict:
    import pyarrow.parquet as pq  # noqa: PLC0415 - the ray extra (pyarrow)

    raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ShardMismatchError(f"{path!r} is not a synaplex shard (its Parquet metadata has no "
                                 f"{METADATA_KEY.decode()!r}). Remove it, or write the job to another folder.")
    return json.loads(raw)


def usage_from_dict(data: dict | None) -> Usage:
    data = dict(data or {})
    data.pop("total_tokens", None)
    return Usage(**data)


def check_manifest(directory: str, manifest: dict) -> None:
    """Write the manifest of a new job, or check that the folder's is this job's."""
    path = os.path.join(directory, MANIFEST)
    if not os.path.exists(path):
        if finished_shards(directory):
            raise ShardMismatchError(
                f"{directory!r} holds shards but no {MANIFEST}: they were not written by this job. "
                "Write the job to an empty folder.")
        files.write_json_atomically(path, manifest)
        return
    found = files.parse_json(files.read_text(path), path)
    if not isinstance(found, dict) or found.get("format") != MANIFEST_FORMAT:
        raise ShardMismatchError(f"{path!r} is not a synaplex.ray job manifest. Write the job to another folder.")
    for key, value in manifest.items():
        if found.get(key) != value:
            raise ShardMismatchError(
                f"The shards in {directory!r} were written by another job: its {key} was {found.get(key)!r:.200}, "
                f"this job's is {value!r:.200}. Resuming would mix two runs; write this job to another folder "
                "(or remove that one to start over).")
