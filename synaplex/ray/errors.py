"""The typed errors of ``synaplex.ray``.

Each derives from the builtin a caller would catch (``ValueError``, ``LookupError``,
``FileNotFoundError``) as well as from ``SynaplexError``.
"""

from __future__ import annotations

from synaplex.backend.errors import InvalidInputError, SynaplexError


class DatasetFileNotFoundError(InvalidInputError, FileNotFoundError):
    """A JSONL/Parquet path given as the dataset does not exist."""


class DatasetColumnError(InvalidInputError, LookupError):
    """The dataset lacks a column the program (or its reward) needs, or has one synaplex writes."""


class ShardMismatchError(SynaplexError, ValueError):
    """The output folder holds shards of another job (another program, dataset or batch size):
    resuming from them would mix two runs, so nothing is run."""
