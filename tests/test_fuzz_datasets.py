"""Fuzzing the dataset loaders (issue 11): JSONL, JSON and CSV files with generated and mutated
contents give examples or a typed synaplex error that names the file, never anything else.

Each test runs a bounded number of hypothesis examples (a few seconds); together they read
thousands of generated files.
"""

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import synaplex
from synaplex.datasets import DatasetError, gsm8k, load_csv, load_json, load_jsonl
from synaplex.errors import SynaplexError

FUZZ = settings(max_examples=600, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Question(synaplex.DataModel):
    query: str = synaplex.Field(description="The question")


class Scored(synaplex.DataModel):
    label: str = synaplex.Field(description="The label")
    score: int = synaplex.Field(description="The score")
    checked: bool = synaplex.Field(default=False, description="Whether it was checked")


# --- generated contents ----------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
KEYS = st.sampled_from(["query", "label", "score", "checked", "question", "answer", "extra", ""])
records = st.dictionaries(KEYS, json_values | st.sampled_from(["#### 3", "a\n#### -1,234.5", "yes", "7"]),
                          max_size=6)
good_records = st.fixed_dictionaries({"query": st.text(max_size=30), "label": st.text(max_size=10),
                                      "score": st.integers() | st.integers().map(str)},
                                     optional={"checked": st.booleans(), "extra": json_values})
deep = st.integers(min_value=900, max_value=12_000).flatmap(lambda depth: st.sampled_from([
    "[" * depth + "]" * depth, '{"query": ' + "[" * depth + "]" * depth + "}", "{" * depth]))
SIGNIFICANT = '{}[]",:\\\n\r\t 0123456789.-+eEtrufalsn\ufeff\x00\u2028é😀'


@st.composite
def mutated(draw, texts):
    """A text, then up to four edits: cut it, insert, delete or repeat a piece."""
    text = draw(texts)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["cut", "insert", "delete", "repeat"]))
        if edit == "cut":
            text = text[:at]
        elif edit == "insert":
            text = text[:at] + draw(st.text(alphabet=SIGNIFICANT, min_size=1, max_size=4) | st.text(max_size=3)) \
                + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 5)):]
        else:
            text = text[:at] + text[max(0, at - 10):at] + text[at:]
    return text


def jsonl_texts():
    line = good_records.map(json.dumps) | records.map(json.dumps) | json_values.map(json.dumps) \
        | st.text(max_size=40) | deep | st.just("")
    return mutated(st.lists(line, max_size=6).map("\n".join))


def json_texts():
    document = st.lists(good_records | records | json_values, max_size=5) | json_values \
        | st.dictionaries(st.sampled_from(["data", "rows"]), st.lists(good_records | records, max_size=4), max_size=2)
    pretty = st.tuples(document, st.sampled_from([None, 2])).map(lambda pair: json.dumps(pair[0], indent=pair[1]))
    return mutated(pretty | deep.map(lambda text: f"[{text}]") | st.text(max_size=40))


def csv_texts():
    cell = st.text(alphabet=string.printable + 'é"\n,;', max_size=12)
    header = st.lists(st.sampled_from(["query", "label", "score", "checked", "question", "x"]), min_size=0,
                      max_size=5)

    def render(rows):
        return "\n".join(",".join(f'"{c}"' if ("," in c or "\n" in c) and '"' not in c else c for c in row)
                         for row in rows)

    table = st.tuples(header, st.lists(st.lists(cell, max_size=5), max_size=5)).map(
        lambda pair: render([pair[0]] + pair[1]))
    return mutated(table | st.text(max_size=60))


raw_bytes = st.binary(max_size=200)


# --- the property --------------------------------------------------------------------------


def check_load(loader, path, *models, **kwargs):
    """Load ``path``: examples of the right types, or a typed error that names the file."""
    try:
        x, y = loader(path, *models, **kwargs)
    except SynaplexError as error:
        assert isinstance(error, DatasetError), f"{type(error).__name__}: {error}"
        assert str(path) in str(error) and error.path == str(path)
        if error.line is not None:
            assert f"line {error.line}:" in str(error)
        return None
    assert len(x) >= 1 and all(isinstance(item, models[0]) for item in x)
    if len(models) > 1:
        assert len(y) == len(x) and all(isinstance(item, models[1]) for item in y)
    return x, y


@pytest.fixture
def file(tmp_path):
    return tmp_path / "data"


@settings(FUZZ, max_examples=500)
@given(text=jsonl_texts())
def test_load_jsonl_gives_examples_or_a_typed_error(file, text):
    file.write_text(text, encoding="utf-8")
    check_load(load_jsonl, file, Question, Scored)


@FUZZ
@given(text=json_texts(), key=st.sampled_from([None, None, "data"]))
def test_load_json_gives_examples_or_a_typed_error(file, text, key):
    file.write_text(text, encoding="utf-8")
    check_load(load_json, file, Question, Scored, key=key)


@FUZZ
@given(text=csv_texts(), delimiter=st.sampled_from([",", ";"]))
def test_load_csv_gives_examples_or_a_typed_error(file, text, delimiter):
    file.write_text(text, encoding="utf-8")
    check_load(load_csv, file, Question, Scored, delimiter=delimiter)


@settings(FUZZ, max_examples=300)
@given(data=raw_bytes, loader=st.sampled_from([load_jsonl, load_json, load_csv]))
def test_any_bytes_give_examples_or_a_typed_error(file, data, loader):
    file.write_bytes(data)
    check_load(loader, file, Question)


@settings(FUZZ, max_examples=400)
@given(lines=st.lists(mutated(st.fixed_dictionaries(
    {"question": st.text(max_size=20), "answer": st.text(max_size=20) | st.sampled_from(
        ["#### 3", "so\n#### 1,234", "#### -0.5", "####", "#### x", ""]) | json_values}).map(json.dumps)),
    min_size=1, max_size=4))
def test_gsm8k_lines_give_examples_or_a_typed_error(file, lines):
    file.write_text("\n".join(lines), encoding="utf-8")
    loaded = check_load(load_jsonl, file, gsm8k.MathQuestion, gsm8k.NumericalAnswerWithThinking,
                        input_fields={"query": "question"}, transform=gsm8k._transform(False))
    if loaded is not None:
        assert all(isinstance(y.answer, float) for y in loaded[1])
