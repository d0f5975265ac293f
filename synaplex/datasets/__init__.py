"""``synaplex.datasets``: built-in datasets and loaders for your own files, Keras-style.

- ``synaplex.datasets.gsm8k.load_data()``: GSM8K, ``(x_train, y_train), (x_test, y_test)``.
- ``load_jsonl``, ``load_json``, ``load_csv``: ``(x, y)`` arrays of DataModels from a file.

Built-in datasets are cached under ``~/.cache/synaplex/datasets/<name>/`` (or
``$SYNAPLEX_DATASETS_DIR/<name>/``), downloaded once and checked by SHA-256 when missing.
Results are numpy object arrays when numpy is installed, else lists. Importing this package
loads neither numpy nor the HTTP client.
"""

from synaplex.datasets import gsm8k
from synaplex.datasets._cache import ENV_VAR, get_datasets_dir
from synaplex.datasets.loaders import (
    DatasetChecksumError,
    DatasetError,
    DatasetFormatError,
    DatasetUnavailableError,
    load_csv,
    load_json,
    load_jsonl,
)

__all__ = [
    "ENV_VAR",
    "DatasetChecksumError",
    "DatasetError",
    "DatasetFormatError",
    "DatasetUnavailableError",
    "get_datasets_dir",
    "gsm8k",
    "load_csv",
    "load_json",
    "load_jsonl",
]
