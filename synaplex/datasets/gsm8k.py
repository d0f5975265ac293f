"""GSM8K: grade-school math word problems (7,473 train, 1,319 test; OpenAI, MIT license).

Source: https://github.com/openai/grade-school-math (``grade_school_math/data``). Each line
is ``{"question": ..., "answer": ...}`` where the answer is a step-by-step solution ending with
``#### <number>``.

The files are read from the dataset cache, ``~/.cache/synaplex/datasets/gsm8k/train.jsonl``
and ``test.jsonl`` (the root can be moved with the environment variable
``SYNAPLEX_DATASETS_DIR`` or the ``cache_dir`` argument). When a file is missing it is
downloaded once and checked against its SHA-256 checksum. Offline, put the two files there
yourself.

Example:
    >>> (x_train, y_train), (x_test, y_test) = synaplex.datasets.gsm8k.load_data()
    >>> x_train[0].query
    'Natalia sold clips to 48 of her friends in April, ...'
    >>> y_train[0].answer
    72.0
"""

from __future__ import annotations

import os
import re

from synaplex.data.data_model import DataModel, Field
from synaplex.datasets._cache import get_file
from synaplex.datasets.loaders import load_jsonl

__all__ = [
    "MathQuestion",
    "NumericalAnswerWithThinking",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "parse_answer",
]

BASE_URL = "https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data"

#: ``{split: (file name, SHA-256 of the file)}``, for the unchanged upstream files.
FILES = {
    "train": ("train.jsonl", "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465"),
    "test": ("test.jsonl", "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14"),
}


class MathQuestion(DataModel):
    """A GSM8K problem."""

    query: str = Field(description="The math word problem")


class NumericalAnswerWithThinking(DataModel):
    """A GSM8K solution: the reasoning, then the final number."""

    thinking: str = Field(description="The step by step thinking")
    answer: float = Field(description="The numerical answer")


def get_input_data_model() -> type[MathQuestion]:
    """The DataModel of GSM8K's inputs: ``query: str``, the problem."""
    return MathQuestion


def get_output_data_model() -> type[NumericalAnswerWithThinking]:
    """The DataModel of GSM8K's outputs: ``thinking: str`` (the worked solution), then
    ``answer: float`` (the number after ``####``)."""
    return NumericalAnswerWithThinking


_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")
_CALCULATOR_ANNOTATION = re.compile(r"<<[^<>]*>>")


def parse_answer(text: str) -> tuple[str, float]:
    """Split a GSM8K answer into ``(thinking, number)``.

    The number is what follows the last ``####``, with thousands separators removed
    (``"#### 1,234"`` gives ``1234.0``; negatives and decimals are accepted).

    Raises:
        ValueError: there is no ``####``, or what follows it is not a number.
    """
    thinking, separator, final = text.rpartition("####")
    if not separator:
        tail = text.strip().splitlines()[-1] if text.strip() else ""
        raise ValueError(
            f"the answer has no final '#### <number>' line (it ends with {tail[-60:]!r})"
        )
    number = final.strip().replace(",", "")
    if not _NUMBER.fullmatch(number):
        raise ValueError(f"the text after '####' is not a number: {final.strip()[:60]!r}")
    return thinking.strip(), float(number)


def _transform(calculator_annotations: bool):
    def transform(record: dict) -> dict:
        answer = record["answer"]
        if not isinstance(answer, str):
            raise TypeError(f"'answer' must be a string, got {type(answer).__name__} {answer!r:.60}")
        thinking, number = parse_answer(answer)
        if not calculator_annotations:
            thinking = _CALCULATOR_ANNOTATION.sub("", thinking)
        return {**record, "thinking": thinking, "answer": number}

    return transform


def load_data(
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    calculator_annotations: bool = False,
):
    """Load GSM8K: ``(x_train, y_train), (x_test, y_test)``.

    Args:
        cache_dir: the dataset cache root; the files are ``<cache_dir>/gsm8k/train.jsonl`` and
            ``test.jsonl``. Default: ``$SYNAPLEX_DATASETS_DIR``, else ``~/.cache/synaplex/datasets``.
        download: download a missing file (verified by SHA-256). When False, a missing file
            raises at once and nothing touches the network.
        calculator_annotations: keep the ``<<48/2=24>>`` calculator annotations of the original
            solutions in ``thinking`` (removed by default: ``"48/2 = <<48/2=24>>24"`` reads
            ``"48/2 = 24"``).

    Returns:
        Two ``(x, y)`` pairs: ``x`` holds :class:`MathQuestion` instances (``query``), ``y``
        :class:`NumericalAnswerWithThinking` instances (``thinking``, ``answer``); numpy object
        arrays, or lists when numpy is not installed.

    Raises:
        DatasetUnavailableError: a file is missing and could not be downloaded (offline,
            ``download=False``); the message names the folder to put the files in.
        DatasetChecksumError: a download did not match its checksum; nothing was cached.
        DatasetFormatError: a line of a file is malformed; the message names file and line.
    """
    all_files = [filename for filename, _ in FILES.values()]
    paths = {
        split: get_file(
            "gsm8k",
            filename,
            f"{BASE_URL}/{filename}",
            sha256,
            cache_dir=cache_dir,
            download=download,
            title="GSM8K",
            all_files=all_files,
        )
        for split, (filename, sha256) in FILES.items()
    }
    transform = _transform(calculator_annotations)
    return tuple(
        load_jsonl(
            paths[split],
            MathQuestion,
            NumericalAnswerWithThinking,
            input_fields={"query": "question"},
            transform=transform,
        )
        for split in ("train", "test")
    )
