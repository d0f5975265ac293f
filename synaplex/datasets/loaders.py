"""Load examples from JSONL, JSON and CSV files into arrays of DataModels.

Every loader returns ``(x, y)``: ``x`` holds one ``input_data_model`` instance per example,
``y`` one ``output_data_model`` instance per example (``None`` when no output model is given).
Both are one-dimensional numpy arrays of ``dtype=object`` when numpy is installed, and plain
lists otherwise (same ``len``, indexing and iteration; numpy is not a dependency of synaplex).

How a record becomes DataModels:

1. ``transform(record)`` (optional) turns the raw record (a dict) into another dict;
2. each field of a DataModel reads the key named by ``input_fields`` / ``output_fields``
   (``{field name: key in the record}``), or the key with the field's own name when the field
   is not in the mapping; keys that no field reads are ignored, and a field with a default may
   be absent from the record;
3. pydantic validates the values (in CSV files every cell is a string: ``"3"`` becomes ``3``
   for an ``int`` field, ``"true"`` becomes ``True`` for a ``bool`` field).

Any problem in a file raises :class:`DatasetFormatError`, whose message names the file, the
1-based line number (for a CSV row: the line where the row starts) and what is wrong; JSON
nested too deeply to read included (never a ``RecursionError``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pydantic

from synaplex.backend.errors import (
    DataModelTypeError,
    InvalidInputError,
    SynaplexError,
    describe_validation_error,
)
from synaplex.data.data_model import is_data_model_class

__all__ = [
    "DatasetChecksumError",
    "DatasetError",
    "DatasetFormatError",
    "DatasetUnavailableError",
    "load_csv",
    "load_json",
    "load_jsonl",
]


# --------------------------------------------------------------------------------------- errors


class DatasetError(SynaplexError):
    """Base class of the errors of ``synaplex.datasets``.

    Attributes:
        path: the file involved, when there is one.
        line: the 1-based line number involved, when there is one.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        super().__init__(message)
        self.path = path
        self.line = line


class DatasetFormatError(DatasetError, InvalidInputError):
    """A dataset file's content is invalid: bad JSON, a missing key, a value failing validation,
    no examples at all. Also a ``ValueError``."""


class DatasetUnavailableError(DatasetError, FileNotFoundError):
    """A dataset file is not there and could not be obtained (no such file, downloads disabled,
    no network). Also a ``FileNotFoundError``; the message says where to put the file."""


class DatasetChecksumError(DatasetUnavailableError):
    """A downloaded dataset file did not match its expected SHA-256 checksum; nothing was cached."""


# ------------------------------------------------------------------------------------- helpers


Transform = Callable[[dict], dict]


def _to_array(items: list) -> Any:
    """A 1-D numpy object array of ``items``, or the list itself when numpy is not installed."""
    try:
        import numpy  # noqa: PLC0415 - optional: used when installed
    except ImportError:
        return items
    array = numpy.empty(len(items), dtype=object)
    for index, item in enumerate(items):  # element-wise: numpy would unpack iterable pydantic models
        array[index] = item
    return array


def _check_data_model(value: Any, argument: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not is_data_model_class(value):
        raise DataModelTypeError(
            f"{argument} must be a DataModel class (a subclass of synaplex.DataModel), "
            f"got {value!r}."
        )


def _check_fields(fields: Mapping[str, str] | None, data_model: type, argument: str) -> dict[str, str]:
    """``{field name: source key}`` for every field of ``data_model``."""
    fields = dict(fields or {})
    unknown = sorted(set(fields) - set(data_model.model_fields))
    if unknown:
        raise InvalidInputError(
            f"{argument} names fields that {data_model.__name__} does not have: {unknown}; "
            f"its fields are {list(data_model.model_fields)}. The mapping goes from DataModel "
            f"field name to the key (or CSV column) in the file."
        )
    for name, key in fields.items():
        if not isinstance(key, str):
            raise InvalidInputError(f"{argument}[{name!r}] must be a string (a key in the file), got {key!r}.")
    return {name: fields.get(name, name) for name in data_model.model_fields}


class _Builder:
    """Turns records into (input, output) DataModel instances, with line-numbered errors."""

    def __init__(self, path, input_data_model, output_data_model, input_fields, output_fields, transform, limit):
        _check_data_model(input_data_model, "input_data_model")
        _check_data_model(output_data_model, "output_data_model", optional=True)
        if transform is not None and not callable(transform):
            raise InvalidInputError(f"transform must be a callable (record -> record), got {transform!r}.")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise InvalidInputError(f"limit must be a positive integer or None, got {limit!r}.")
        self.path = str(path)
        self.transform = transform
        self.limit = limit
        self.models = [(input_data_model, _check_fields(input_fields, input_data_model, "input_fields"))]
        if output_data_model is not None:
            self.models.append(
                (output_data_model, _check_fields(output_fields, output_data_model, "output_fields"))
            )
        elif output_fields:
            raise InvalidInputError("output_fields was given but output_data_model is None.")
        self.columns: list[list] = [[] for _ in self.models]

    def error(self, line: int | None, what: str) -> DatasetFormatError:
        where = f"{self.path}, line {line}" if line is not None else self.path
        return DatasetFormatError(f"{where}: {what}", path=self.path, line=line)

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.columns[0]) >= self.limit

    def add(self, record: Any, line: int | None, where: str | None = None) -> None:
        """Validate one raw record; ``where`` replaces ``line N`` in messages when lines are unknown."""
        location = line
        if where is not None:
            location = None

        def fail(what: str) -> DatasetFormatError:
            return self.error(location, f"{where}: {what}" if where else what)

        if not isinstance(record, dict):
            raise fail(f"expected a JSON object, got {type(record).__name__} {_short(record)}.")
        if self.transform is not None:
            try:
                record = self.transform(record)
            except DatasetError:
                raise
            except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
                raise fail(_describe(error)) from error
            if not isinstance(record, dict):
                raise fail(f"transform must return a dict, it returned {type(record).__name__}.")
        instances = []
        for data_model, fields in self.models:
            values = {}
            for name, key in fields.items():
                if key in record:
                    values[name] = record[key]
                elif data_model.model_fields[name].is_required():
                    present = ", ".join(repr(k) for k in record) or "none"
                    field = f" (for field {name!r})" if key != name else ""
                    raise fail(
                        f"missing key {key!r}{field} of {data_model.__name__}; the keys present are {present}."
                    )
            try:
                instances.append(data_model.model_validate(values))
            except pydantic.ValidationError as error:
                raise fail(f"invalid {data_model.__name__}: {describe_validation_error(error)}.") from None
        for column, instance in zip(self.columns, instances):
            column.append(instance)

    def result(self, empty_message: str):
        if not self.columns[0]:
            raise self.error(None, empty_message)
        x = _to_array(self.columns[0])
        y = _to_array(self.columns[1]) if len(self.columns) > 1 else None
        return x, y


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"missing key {error.args[0]!r}" if error.args else "missing key"
    text = str(error)
    return text if text else type(error).__name__


def _too_deep(builder: _Builder, line: int | None) -> DatasetFormatError:
    return builder.error(line, f"invalid JSON (nested too deeply: Python reads at most about "
                               f"{sys.getrecursionlimit()} levels).")


def _deepest_line(text: str) -> int:
    """The 1-based line where ``text``'s JSON nesting is deepest (strings skipped)."""
    depth = deepest = 0
    where = 0
    in_string = escape = False
    for position, char in enumerate(text):
        if in_string:
            if escape:
                escape = False
            elif char == "\\":
                escape = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, position
        elif char in "]}":
            depth -= 1
    return text.count("\n", 0, where) + 1


def _read_text(path, encoding: str) -> str:
    try:
        with open(path, encoding=encoding, newline="") as file:
            return file.read()
    except FileNotFoundError:
        raise DatasetUnavailableError(f"Dataset file not found: {os.fspath(path)}.", path=str(path)) from None
    except IsADirectoryError:
        raise DatasetUnavailableError(f"Cannot read the dataset file {os.fspath(path)}: it is a folder; pass "
                                      "the path of a file in it.", path=str(path)) from None
    except OSError as error:
        raise DatasetUnavailableError(f"Cannot read the dataset file {os.fspath(path)}: "
                                      f"{error.strerror or error}.", path=str(path)) from None
    except UnicodeDecodeError as error:
        raise DatasetFormatError(
            f"{path}: not a {encoding} text file ({error.reason} at byte {error.start}).", path=str(path)
        ) from None


# ------------------------------------------------------------------------------------- loaders


def load_jsonl(
    path: str | os.PathLike,
    input_data_model: type,
    output_data_model: type | None = None,
    *,
    input_fields: Mapping[str, str] | None = None,
    output_fields: Mapping[str, str] | None = None,
    transform: Transform | None = None,
    limit: int | None = None,
    encoding: str = "utf-8-sig",
):
    """Load a JSON Lines file (one JSON object per line; blank lines are skipped).

    Args:
        path: the ``.jsonl`` file.
        input_data_model: the DataModel class of each ``x``.
        output_data_model: the DataModel class of each ``y``; ``None`` for no ``y``.
        input_fields: ``{field of input_data_model: key in the record}``; unmapped fields read
            the key with their own name.
        output_fields: the same for ``output_data_model``.
        transform: ``record -> record``, applied to each record first; a ``ValueError``,
            ``KeyError`` or ``TypeError`` it raises is reported with the line number.
        limit: stop after this many examples.
        encoding: the file's encoding (the default reads UTF-8 with or without a BOM).

    Returns:
        ``(x, y)``: numpy object arrays (lists without numpy); ``y`` is ``None`` when
        ``output_data_model`` is ``None``.

    Raises:
        DatasetFormatError: a line is not valid JSON or not an object, a key is missing, a value
            fails validation, or the file holds no example. The message names the file and line.
        DatasetUnavailableError: the file does not exist.

    Example:
        >>> x, y = synaplex.datasets.load_jsonl(
        ...     "qa.jsonl", Query, Answer, input_fields={"query": "question"})
    """
    builder = _Builder(path, input_data_model, output_data_model, input_fields, output_fields, transform, limit)
    text = _read_text(path, encoding)
    for number, line in enumerate(text.split("\n"), start=1):  # "\n" only, as JSONL splits
        if builder.full:
            break
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise builder.error(number, f"invalid JSON ({error.msg} at column {error.colno}): {_short(line)}") from None
        except RecursionError:
            raise _too_deep(builder, number) from None
        builder.add(record, number)
    return builder.result("the file holds no example (expected one JSON object per line).")


def load_json(
    path: str | os.PathLike,
    input_data_model: type,
    output_data_model: type | None = None,
    *,
    key: str | None = None,
    input_fields: Mapping[str, str] | None = None,
    output_fields: Mapping[str, str] | None = None,
    transform: Transform | None = None,
    limit: int | None = None,
    encoding: str = "utf-8-sig",
):
    """Load a JSON file holding an array of objects (or an object whose ``key`` holds one).

    Errors in a top-level array name the line where the bad element starts; with ``key``
    they name the element's index instead. Other arguments, the result and the errors are
    as for :func:`load_jsonl`.

    Example:
        >>> x, y = synaplex.datasets.load_json("qa.json", Query, Answer, key="data")
    """
    builder = _Builder(path, input_data_model, output_data_model, input_fields, output_fields, transform, limit)
    text = _read_text(path, encoding)
    if not text.strip():
        raise builder.error(None, "the file is empty (expected a JSON array of objects).")
    if key is None:
        for number, record in _iter_json_array(text, builder):
            if builder.full:
                break
            builder.add(record, number)
        return builder.result("the JSON array is empty: the file holds no example.")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise builder.error(error.lineno, f"invalid JSON ({error.msg} at column {error.colno}).") from None
    except RecursionError:
        raise _too_deep(builder, _deepest_line(text)) from None
    if not isinstance(document, dict) or key not in document:
        found = f"an object with keys {list(document)[:10]}" if isinstance(document, dict) else type(document).__name__
        raise builder.error(None, f"expected a JSON object with the key {key!r}, found {found}.")
    items = document[key]
    if not isinstance(items, list):
        raise builder.error(None, f"{key!r} must hold a JSON array of objects, it holds {type(items).__name__}.")
    for index, record in enumerate(items):
        if builder.full:
            break
        builder.add(record, None, where=f"item {index} of {key!r}")
    return builder.result(f"the array {key!r} is empty: the file holds no example.")


def _iter_json_array(text: str, builder: _Builder) -> Iterator[tuple[int, Any]]:
    """Decode a top-level JSON array element by element, yielding ``(start line, element)``."""
    decoder = json.JSONDecoder()
    whitespace = " \t\n\r"
    length = len(text)
    line = 1
    last = 0  # text[:last] has been counted into `line`

    def line_at(position: int) -> int:
        nonlocal line, last
        line += text.count("\n", last, position)
        last = position
        return line

    def skip(position: int) -> int:
        while position < length and text[position] in whitespace:
            position += 1
        return position

    position = skip(0)
    if text[position] != "[":
        raise builder.error(
            line_at(position),
            "expected a JSON array of objects (pass key=... when the array is inside an object).",
        )
    position = skip(position + 1)
    if position < length and text[position] == "]":
        return
    while True:
        if position >= length:
            raise builder.error(line_at(length), "invalid JSON (the array is not closed).")
        start = line_at(position)
        try:
            element, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise builder.error(error.lineno, f"invalid JSON ({error.msg} at column {error.colno}).") from None
        except RecursionError:
            raise _too_deep(builder, start) from None
        yield start, element
        position = skip(position)
        if position < length and text[position] == ",":
            position = skip(position + 1)
            continue
        if position < length and text[position] == "]":
            trailing = skip(position + 1)
            if trailing < length:
                raise builder.error(line_at(trailing), "invalid JSON (extra data after the array).")
            return
        raise builder.error(line_at(min(position, length)), "invalid JSON (expected ',' or ']' after an element).")


def load_csv(
    path: str | os.PathLike,
    input_data_model: type,
    output_data_model: type | None = None,
    *,
    input_fields: Mapping[str, str] | None = None,
    output_fields: Mapping[str, str] | None = None,
    transform: Transform | None = None,
    limit: int | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8-sig",
):
    """Load a CSV file whose first row names the columns.

    Cells are strings, converted by pydantic validation to each field's type. An empty cell
    counts as absent for a field that has a default (so the default applies); otherwise it is
    validated as ``""``. A row must have as many cells as the header. Errors name the line where
    the row starts (a quoted cell may span lines). Other arguments, the result and the errors are
    as for :func:`load_jsonl`.

    Example:
        >>> x, y = synaplex.datasets.load_csv("qa.csv", Query, Answer, input_fields={"query": "question"})
    """
    builder = _Builder(path, input_data_model, output_data_model, input_fields, output_fields, transform, limit)
    text = _read_text(path, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    defaults = {
        key
        for data_model, fields in builder.models
        for name, key in fields.items()
        if not data_model.model_fields[name].is_required()
    }
    header: list[str] | None = None
    header_line = 0
    previous = 0  # reader.line_num after the previous row
    rows: Iterable = iter(reader)
    while not builder.full:
        start = previous + 1
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as error:
            raise builder.error(start, f"invalid CSV ({error}).") from None
        previous = reader.line_num
        if not row or (header is None and len(row) == 1 and not row[0].strip()):
            continue  # a blank line
        if header is None:
            header, header_line = [cell.strip() for cell in row], start
            if transform is None:
                _check_header(builder, header, header_line)
            continue
        if len(row) != len(header):
            raise builder.error(start, f"the row has {len(row)} cells but the header (line {header_line}) "
                                       f"has {len(header)} columns.")
        record = {column: cell for column, cell in zip(header, row) if not (cell == "" and column in defaults)}
        builder.add(record, start)
    if header is None:
        raise builder.error(None, "the file is empty (expected a header row, then one row per example).")
    return builder.result(f"the file has a header (line {header_line}) but no rows: it holds no example.")


def _check_header(builder: _Builder, header: list[str], line: int) -> None:
    """Without a transform, every required field's column must be in the header."""
    for data_model, fields in builder.models:
        for name, key in fields.items():
            if key not in header and data_model.model_fields[name].is_required():
                field = f" (for field {name!r} of {data_model.__name__})" if key != name else (
                    f" (for {data_model.__name__})")
                raise builder.error(line, f"the header has no column {key!r}{field}; its columns are {header}.")
