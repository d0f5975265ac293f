"""synaplex.datasets: GSM8K from the local cache, verified downloads (faked), file loaders.

The real GSM8K files come from, in order: the shared test copy (``$SYNAPLEX_TEST_DATASETS_DIR``,
else ``<repo>/../shared/datasets``); else the user's dataset cache (``$SYNAPLEX_DATASETS_DIR``, else
``~/.cache/synaplex/datasets``), where a missing file is downloaded once and checked against its
SHA-256 checksum when the network allows. When neither provides them, the few tests that read
the real files are skipped, saying how to provide them; every other test runs offline, with
downloads going through a replaced ``fetch`` or an ``httpx2.MockTransport``.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx2
import numpy as np
import pytest

import synaplex
from synaplex.datasets import (
    DatasetChecksumError,
    DatasetError,
    DatasetFormatError,
    DatasetUnavailableError,
    _cache,
    gsm8k,
    load_csv,
    load_json,
    load_jsonl,
)
from synaplex.errors import InvalidInputError, SynaplexError

SHARED_DATASETS = Path(
    os.environ.get("SYNAPLEX_TEST_DATASETS_DIR") or Path(__file__).resolve().parents[2] / "shared" / "datasets"
)
TRAIN_URL = f"{gsm8k.BASE_URL}/train.jsonl"
TEST_URL = f"{gsm8k.BASE_URL}/test.jsonl"
TEST_DOWNLOAD_TIMEOUT = 20.0  # seconds per network operation when the tests fetch GSM8K into the cache


def find_gsm8k_copy(shared: Path, cache: Path, download: bool = True) -> tuple[Path | None, str]:
    """The root whose ``gsm8k/`` holds GSM8K's train.jsonl and test.jsonl for these tests, or
    ``(None, why and how to provide them)``.

    ``shared`` (the test copy) is used when it holds both files; else the user's ``cache``, where a
    missing file is downloaded and checked against its SHA-256 checksum (``gsm8k.FILES``) by the
    library's own ``get_file`` when ``download`` is true.
    """
    names = [filename for filename, _ in gsm8k.FILES.values()]
    if all((shared / "gsm8k" / name).is_file() for name in names):
        return shared, ""
    try:
        for filename, sha256 in gsm8k.FILES.values():
            _cache.get_file("gsm8k", filename, f"{gsm8k.BASE_URL}/{filename}", sha256, cache_dir=cache,
                            download=download, title="GSM8K", all_files=names)
        return cache, ""
    except DatasetUnavailableError as error:  # offline, a checksum mismatch, an unwritable cache
        problem = str(error).split(". To fix it", 1)[0]
    return None, (
        f"GSM8K's real files are not available: {shared / 'gsm8k'} does not hold {' and '.join(names)}, and "
        f"the dataset cache cannot provide them ({problem}). To run these tests, put the unchanged upstream files "
        f"({gsm8k.BASE_URL}/) in {shared / 'gsm8k'}{os.sep} or {cache / 'gsm8k'}{os.sep}, point "
        f"SYNAPLEX_TEST_DATASETS_DIR (or SYNAPLEX_DATASETS_DIR for the cache) at a folder whose gsm8k{os.sep} "
        "holds them, or run the tests once with network access to download them into the cache."
    )


@pytest.fixture(scope="module")
def gsm8k_root() -> Path:
    """The root holding the real GSM8K files (see find_gsm8k_copy); skips the tests without them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_cache, "DOWNLOAD_TIMEOUT", TEST_DOWNLOAD_TIMEOUT)
        root, reason = find_gsm8k_copy(SHARED_DATASETS, _cache.get_datasets_dir())
    if root is None:
        pytest.skip(reason)
    return root


@pytest.fixture(scope="module")
def gsm8k_data(gsm8k_root):
    """GSM8K loaded once for the module, through SYNAPLEX_DATASETS_DIR (no cache_dir argument)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYNAPLEX_DATASETS_DIR", str(gsm8k_root))
        patch.setattr(_cache, "fetch", _no_network)
        return gsm8k.load_data()


def _no_network(url):
    raise AssertionError(f"a test tried to download {url}")


@pytest.fixture
def no_network(monkeypatch):
    monkeypatch.setattr(_cache, "fetch", _no_network)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _gsm8k_line(question, answer):
    return json.dumps({"question": question, "answer": answer})


def _fake_cache(root: Path, train_lines, test_lines=None) -> Path:
    test_lines = test_lines if test_lines is not None else [_gsm8k_line("1+1?", "1+1=2\n#### 2")]
    _write(root / "gsm8k" / "train.jsonl", "\n".join(train_lines) + "\n")
    _write(root / "gsm8k" / "test.jsonl", "\n".join(test_lines) + "\n")
    return root


# ------------------------------------------------------------------------------------- GSM8K


def test_gsm8k_shapes_and_types(gsm8k_data):
    (x_train, y_train), (x_test, y_test) = gsm8k_data
    assert [len(a) for a in (x_train, y_train, x_test, y_test)] == [7473, 7473, 1319, 1319]
    for array in (x_train, y_train, x_test, y_test):
        assert isinstance(array, np.ndarray) and array.dtype == object and array.ndim == 1
    assert all(type(x) is gsm8k.get_input_data_model() for x in x_train[:50])
    assert all(type(y) is gsm8k.get_output_data_model() for y in y_test[:50])
    assert any(y.answer < 0 for y in y_train)  # the real file has negative answers


def test_gsm8k_first_examples_are_parsed(gsm8k_data, gsm8k_root):
    (x_train, y_train), (x_test, y_test) = gsm8k_data
    first = json.loads((gsm8k_root / "gsm8k" / "train.jsonl").read_text(encoding="utf-8").split("\n", 1)[0])
    assert x_train[0].query == first["question"]
    assert x_train[0].query.startswith("Natalia sold clips to 48 of her friends in April")
    assert y_train[0].answer == 72.0
    # the calculator annotations <<48/2=24>> are removed from the reasoning by default
    assert y_train[0].thinking == (
        "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May."
    )
    assert x_test[0].query.startswith("Janet")
    assert y_test[0].answer == 18.0
    assert y_test[0].get_json()["answer"] == 18.0


def test_gsm8k_data_models():
    Input, Output = gsm8k.get_input_data_model(), gsm8k.get_output_data_model()
    assert issubclass(Input, synaplex.DataModel) and issubclass(Output, synaplex.DataModel)
    assert list(Input.model_fields) == ["query"]
    assert list(Output.model_fields) == ["thinking", "answer"]
    assert Output.model_fields["answer"].annotation is float
    for model in (Input, Output):
        for name, info in model.model_fields.items():
            assert info.description, name
    assert Output.get_schema()["properties"]["answer"]["type"] == "number"


def test_gsm8k_checksums_match_the_upstream_files(gsm8k_root):
    for filename, sha256 in gsm8k.FILES.values():
        assert hashlib.sha256((gsm8k_root / "gsm8k" / filename).read_bytes()).hexdigest() == sha256


def test_gsm8k_parses_commas_negatives_and_decimals(tmp_path, no_network):
    root = _fake_cache(tmp_path, [
        _gsm8k_line("Big?", "She has 1,000 + 234 = <<1000+234=1234>>1,234 apples.\n#### 1,234"),
        _gsm8k_line("Debt?", "He owes 5.\n#### -5"),
        _gsm8k_line("Half?", "5/2 = 2.5\n#### 2.5"),
        _gsm8k_line("Huge?", "Lots.\n####1,234,567.25  "),
        "",  # blank lines are skipped
        _gsm8k_line("Twice?", "first #### 1\nthen\n#### 3"),  # the last #### counts
    ])
    (x_train, y_train), (x_test, y_test) = gsm8k.load_data(cache_dir=root)
    assert [y.answer for y in y_train] == [1234.0, -5.0, 2.5, 1234567.25, 3.0]
    assert [x.query for x in x_train] == ["Big?", "Debt?", "Half?", "Huge?", "Twice?"]
    assert y_train[0].thinking == "She has 1,000 + 234 = 1,234 apples."
    assert y_train[4].thinking == "first #### 1\nthen"
    assert (x_test[0].query, y_test[0].answer) == ("1+1?", 2.0)
    (_, y_kept), _ = gsm8k.load_data(cache_dir=root, calculator_annotations=True)
    assert "<<1000+234=1234>>" in y_kept[0].thinking


def test_parse_answer():
    assert gsm8k.parse_answer("a\n#### 55,000") == ("a", 55000.0)
    assert gsm8k.parse_answer("#### -0.5") == ("", -0.5)
    with pytest.raises(ValueError, match="no final '#### <number>' line"):
        gsm8k.parse_answer("the answer is 3")
    with pytest.raises(ValueError, match="not a number: 'three'"):
        gsm8k.parse_answer("so\n#### three")


def test_gsm8k_malformed_line_names_file_and_line(tmp_path, no_network):
    root = _fake_cache(tmp_path, [_gsm8k_line("ok?", "#### 1"), '{"question": "broken", "answer": ', "{}"])
    with pytest.raises(DatasetFormatError) as info:
        gsm8k.load_data(cache_dir=root)
    message = str(info.value)
    assert f"{root / 'gsm8k' / 'train.jsonl'}, line 2: invalid JSON" in message
    assert info.value.line == 2 and info.value.path == str(root / "gsm8k" / "train.jsonl")
    assert isinstance(info.value, ValueError) and isinstance(info.value, SynaplexError)


def test_gsm8k_answer_without_hashes_names_the_line(tmp_path, no_network):
    root = _fake_cache(tmp_path, [
        _gsm8k_line("ok?", "#### 1"),
        _gsm8k_line("ok too?", "#### 2"),
        _gsm8k_line("no final line?", "so the result is 7"),
    ])
    with pytest.raises(DatasetFormatError, match=r"train\.jsonl, line 3: the answer has no final '#### <number>'"):
        gsm8k.load_data(cache_dir=root)
    root = _fake_cache(tmp_path, [_gsm8k_line("ok?", "#### 1")], test_lines=[_gsm8k_line("q", "#### twelve")])
    with pytest.raises(DatasetFormatError, match=r"test\.jsonl, line 1: the text after '####' is not a number"):
        gsm8k.load_data(cache_dir=root)
    root = _fake_cache(tmp_path, ['{"question": "where is the answer?"}'])
    with pytest.raises(DatasetFormatError, match=r"train\.jsonl, line 1: missing key 'answer'"):
        gsm8k.load_data(cache_dir=root)


# ----------------------------------------------------------------------------- cache, download


def _fake_gsm8k(monkeypatch, train=b'{"question": "q", "answer": "#### 1"}\n', test=b'{"question": "t", "answer": "#### 2"}\n'):
    """Small stand-ins for GSM8K's files, with their checksums in gsm8k.FILES; returns the bytes by URL."""
    monkeypatch.setattr(gsm8k, "FILES", {"train": ("train.jsonl", hashlib.sha256(train).hexdigest()),
                                         "test": ("test.jsonl", hashlib.sha256(test).hexdigest())})
    return {TRAIN_URL: train, TEST_URL: test}


def test_the_gsm8k_test_copy_comes_from_the_shared_folder_first(tmp_path, no_network):
    shared, cache = tmp_path / "shared", tmp_path / "cache"
    _fake_cache(shared, [_gsm8k_line("q", "#### 1")])
    _fake_cache(cache, [_gsm8k_line("q", "#### 1")])
    assert find_gsm8k_copy(shared, cache) == (shared, "")


def test_the_gsm8k_test_copy_falls_back_to_the_cache_then_to_a_verified_download(tmp_path, monkeypatch):
    upstream = _fake_gsm8k(monkeypatch)
    shared, cache = tmp_path / "shared", tmp_path / "cache"
    _write(shared / "gsm8k" / "train.jsonl", "{}\n")  # half a copy does not count
    _write(cache / "gsm8k" / "train.jsonl", upstream[TRAIN_URL].decode())
    fetched = []
    monkeypatch.setattr(_cache, "fetch", lambda url: fetched.append(url) or upstream[url])
    assert find_gsm8k_copy(shared, cache) == (cache, "")
    assert fetched == [TEST_URL]  # only the missing file, into the user's cache
    assert (cache / "gsm8k" / "test.jsonl").read_bytes() == upstream[TEST_URL]
    assert find_gsm8k_copy(shared, cache) == (cache, "") and fetched == [TEST_URL]  # now cached


@pytest.mark.parametrize("fetch, cause", [
    (lambda url: (_ for _ in ()).throw(httpx2.ConnectError("[Errno -2] Name or service not known")),
     "could not be downloaded (ConnectError: [Errno -2] Name or service not known)"),
    (lambda url: b"tampered", "its download does not match the expected SHA-256 checksum"),
], ids=["offline", "checksum"])
def test_without_any_copy_the_reason_says_how_to_provide_the_files(tmp_path, monkeypatch, fetch, cause):
    _fake_gsm8k(monkeypatch)
    shared, cache = tmp_path / "shared", tmp_path / "cache"
    monkeypatch.setattr(_cache, "fetch", fetch)
    root, reason = find_gsm8k_copy(shared, cache)
    assert root is None
    assert reason.startswith(f"GSM8K's real files are not available: {shared / 'gsm8k'} does not hold "
                             "train.jsonl and test.jsonl, and the dataset cache cannot provide them (GSM8K: the "
                             f"file 'train.jsonl' is missing from the folder {cache / 'gsm8k'} and ")
    assert cause in reason
    assert reason.endswith(
        f"To run these tests, put the unchanged upstream files ({gsm8k.BASE_URL}/) in {shared / 'gsm8k'}{os.sep} "
        f"or {cache / 'gsm8k'}{os.sep}, point SYNAPLEX_TEST_DATASETS_DIR (or SYNAPLEX_DATASETS_DIR for the cache) "
        f"at a folder whose gsm8k{os.sep} holds them, or run the tests once with network access to download them "
        "into the cache.")
    assert not (cache / "gsm8k" / "train.jsonl").exists()
    root, reason = find_gsm8k_copy(shared, cache, download=False)
    assert root is None and "downloads are disabled (download=False)" in reason


def test_offline_with_an_empty_cache_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNAPLEX_DATASETS_DIR", str(tmp_path))
    calls = []

    def offline(url):
        calls.append(url)
        raise httpx2.ConnectError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(_cache, "fetch", offline)
    with pytest.raises(DatasetUnavailableError) as info:
        gsm8k.load_data()
    message = str(info.value)
    folder = str(tmp_path / "gsm8k")
    assert "'train.jsonl' is missing from the folder " + folder in message
    assert "ConnectError: [Errno -3] Temporary failure in name resolution" in message
    assert f"put train.jsonl and test.jsonl in {folder}{os.sep}" in message
    assert "SYNAPLEX_DATASETS_DIR" in message and TRAIN_URL in message
    assert calls == [TRAIN_URL]
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, DatasetError)
    assert isinstance(info.value.__cause__, httpx2.ConnectError)
    assert not (tmp_path / "gsm8k").exists() or list((tmp_path / "gsm8k").iterdir()) == []


def test_download_false_never_touches_the_network(tmp_path, no_network):
    _write(tmp_path / "gsm8k" / "train.jsonl", _gsm8k_line("q", "#### 1") + "\n")
    with pytest.raises(DatasetUnavailableError) as info:
        gsm8k.load_data(cache_dir=tmp_path, download=False)
    message = str(info.value)
    assert "'test.jsonl' is missing from the folder " + str(tmp_path / "gsm8k") in message
    assert "downloads are disabled (download=False)" in message and TEST_URL in message


def test_download_fills_the_cache_after_checking_the_checksum(tmp_path, monkeypatch, gsm8k_root):
    folder = gsm8k_root / "gsm8k"
    upstream = {TRAIN_URL: (folder / "train.jsonl").read_bytes(), TEST_URL: (folder / "test.jsonl").read_bytes()}
    calls = []

    def fake_fetch(url):
        calls.append(url)
        return upstream[url]

    monkeypatch.setattr(_cache, "fetch", fake_fetch)
    (x_train, _), (x_test, y_test) = gsm8k.load_data(cache_dir=tmp_path)
    assert calls == [TRAIN_URL, TEST_URL]
    assert (len(x_train), len(x_test)) == (7473, 1319) and y_test[0].answer == 18.0
    folder = tmp_path / "gsm8k"
    assert sorted(p.name for p in folder.iterdir()) == ["test.jsonl", "train.jsonl"]  # no temporary file left
    assert (folder / "test.jsonl").read_bytes() == upstream[TEST_URL]
    # now cached: no second download
    monkeypatch.setattr(_cache, "fetch", _no_network)
    filename, sha256 = gsm8k.FILES["test"]
    assert _cache.get_file("gsm8k", filename, TEST_URL, sha256, cache_dir=tmp_path) == folder / "test.jsonl"


def test_checksum_mismatch_caches_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(_cache, "fetch", lambda url: b'{"question": "tampered", "answer": "#### 1"}\n')
    with pytest.raises(DatasetChecksumError) as info:
        gsm8k.load_data(cache_dir=tmp_path)
    message = str(info.value)
    assert "does not match the expected SHA-256 checksum" in message
    assert f"expected {gsm8k.FILES['train'][1]}" in message and "nothing was written to the cache" in message
    assert str(tmp_path / "gsm8k") in message and "SYNAPLEX_DATASETS_DIR" in message
    assert isinstance(info.value, DatasetUnavailableError)
    assert list((tmp_path / "gsm8k").iterdir()) == []  # neither the file nor a temporary one


def test_the_real_fetch_reports_http_errors(tmp_path, monkeypatch):
    """The real fetch function, over a mock transport: HTTP errors and good bodies."""
    body = b"hello\n"
    sha256 = hashlib.sha256(body).hexdigest()

    def handler(request):
        if request.url.path.endswith("/missing.txt"):
            return httpx2.Response(404, text="Not Found")
        return httpx2.Response(200, content=body)

    monkeypatch.setattr(_cache, "_transport", httpx2.MockTransport(handler))
    with pytest.raises(DatasetUnavailableError, match="could not be downloaded \\(HTTPStatusError: .*404"):
        _cache.get_file("demo", "missing.txt", "https://example.invalid/missing.txt", sha256, cache_dir=tmp_path)
    path = _cache.get_file("demo", "ok.txt", "https://example.invalid/ok.txt", sha256, cache_dir=tmp_path)
    assert path == tmp_path / "demo" / "ok.txt" and path.read_bytes() == body


def test_unwritable_cache_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(_cache, "fetch", lambda url: b"x")
    not_a_folder = _write(tmp_path / "file", "")
    with pytest.raises(DatasetUnavailableError, match="could not be written there"):
        _cache.get_file("demo", "a.txt", "https://example.invalid/a.txt", "0" * 64, cache_dir=not_a_folder)


def test_cache_root_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("SYNAPLEX_DATASETS_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert synaplex.datasets.get_datasets_dir() == tmp_path / "home" / ".cache" / "synaplex" / "datasets"
    monkeypatch.setenv("SYNAPLEX_DATASETS_DIR", str(tmp_path / "env"))
    assert synaplex.datasets.get_datasets_dir() == tmp_path / "env"
    assert synaplex.datasets.get_datasets_dir(tmp_path / "arg") == tmp_path / "arg"


def test_importing_datasets_loads_neither_numpy_nor_httpx2():
    code = ("import sys, json, synaplex.datasets; "
            "print(json.dumps(sorted(m for m in ('numpy', 'httpx2') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


# ------------------------------------------------------------------------------------ loaders


class Question(synaplex.DataModel):
    query: str = synaplex.Field(description="The question")


class Scored(synaplex.DataModel):
    label: str = synaplex.Field(description="The label")
    score: int = synaplex.Field(description="The score")
    checked: bool = synaplex.Field(default=False, description="Whether it was checked")


def test_load_jsonl_maps_fields_and_returns_arrays(tmp_path):
    path = _write(tmp_path / "data.jsonl", "\n".join([
        json.dumps({"question": "a?", "label": "x", "score": 1, "extra": "ignored"}),
        "",
        json.dumps({"question": "b?", "label": "y", "score": "2", "checked": True}),
    ]) + "\n")
    x, y = load_jsonl(path, Question, Scored, input_fields={"query": "question"})
    assert isinstance(x, np.ndarray) and x.dtype == object and x.shape == (2,)
    assert [item.query for item in x] == ["a?", "b?"]
    assert [item.get_json() for item in y] == [
        {"label": "x", "score": 1, "checked": False},
        {"label": "y", "score": 2, "checked": True},
    ]
    x_only, none = load_jsonl(path, Question, input_fields={"query": "question"}, limit=1)
    assert none is None and len(x_only) == 1


def test_load_jsonl_errors_name_the_line(tmp_path):
    good = json.dumps({"query": "a", "label": "x", "score": 1})
    cases = [
        ([good, "{not json}"], DatasetFormatError, r"data\.jsonl, line 2: invalid JSON \(Expecting property name"),
        ([good, "", "[1, 2]"], DatasetFormatError, r"line 3: expected a JSON object, got list"),
        ([good, json.dumps({"query": "b", "score": 2})], DatasetFormatError,
         r"line 2: missing key 'label' of Scored; the keys present are 'query', 'score'"),
        ([good, good, json.dumps({"query": "c", "label": "z", "score": "high"})], DatasetFormatError,
         r"line 3: invalid Scored: field 'score': Input should be a valid integer.*'high'"),
    ]
    for lines, error_type, pattern in cases:
        path = _write(tmp_path / "data.jsonl", "\n".join(lines) + "\n")
        with pytest.raises(error_type, match=pattern):
            load_jsonl(path, Question, Scored)
    path = _write(tmp_path / "data.jsonl", json.dumps({"q": "a"}) + "\n")
    with pytest.raises(DatasetFormatError, match=r"line 1: missing key 'q_text' \(for field 'query'\)"):
        load_jsonl(path, Question, input_fields={"query": "q_text"})

    def explode(record):
        raise ValueError("cannot transform this one")

    with pytest.raises(DatasetFormatError, match=r"line 1: cannot transform this one"):
        load_jsonl(path, Question, transform=explode)


def test_empty_and_missing_files(tmp_path):
    for name, loader, text in [
        ("a.jsonl", load_jsonl, ""),
        ("b.jsonl", load_jsonl, "\n  \n"),
        ("c.json", load_json, ""),
        ("d.json", load_json, "[ ]"),
        ("e.csv", load_csv, ""),
        ("f.csv", load_csv, "query\n"),
    ]:
        path = _write(tmp_path / name, text)
        with pytest.raises(DatasetFormatError, match=r"(empty|no example)") as info:
            loader(path, Question)
        assert str(path) in str(info.value)
    with pytest.raises(DatasetUnavailableError, match="Dataset file not found"):
        load_jsonl(tmp_path / "nope.jsonl", Question)


def test_loader_arguments_are_checked(tmp_path):
    path = _write(tmp_path / "a.jsonl", '{"query": "a"}\n')
    with pytest.raises(InvalidInputError, match=r"input_fields names fields that Question does not have: \['qeury'\]"):
        load_jsonl(path, Question, input_fields={"qeury": "query"})
    with pytest.raises(synaplex.errors.DataModelTypeError, match="input_data_model must be a DataModel class"):
        load_jsonl(path, dict)
    with pytest.raises(InvalidInputError, match="limit must be a positive integer"):
        load_jsonl(path, Question, limit=0)


def test_load_json_arrays_and_keys(tmp_path):
    records = [{"query": "a", "label": "x", "score": 1}, {"query": "b", "label": "y", "score": 2}]
    path = _write(tmp_path / "data.json", json.dumps(records, indent=2))
    x, y = load_json(path, Question, Scored)
    assert [item.query for item in x] == ["a", "b"] and [item.score for item in y] == [1, 2]
    bad = records + [{"query": "c", "label": "z", "score": "many"}]
    path = _write(tmp_path / "data.json", json.dumps(bad, indent=2))  # the third element starts on line 12
    with pytest.raises(DatasetFormatError, match=r"data\.json, line 12: invalid Scored: field 'score'") as info:
        load_json(path, Question, Scored)
    assert info.value.line == 12
    path = _write(tmp_path / "data.json", '[\n  {"query": "a"},\n  {"query": "b",}\n]')
    with pytest.raises(DatasetFormatError, match=r"line 3: invalid JSON"):
        load_json(path, Question)
    path = _write(tmp_path / "data.json", json.dumps({"data": records}))
    with pytest.raises(DatasetFormatError, match="expected a JSON array of objects \\(pass key="):
        load_json(path, Question)
    x, _ = load_json(path, Question, key="data")
    assert [item.query for item in x] == ["a", "b"]
    path = _write(tmp_path / "data.json", json.dumps({"data": [{"query": "a"}, {"nothing": 1}]}))
    with pytest.raises(DatasetFormatError, match=r"item 1 of 'data': missing key 'query'"):
        load_json(path, Question, key="data")


def test_load_csv_converts_values_and_names_row_lines(tmp_path):
    path = _write(tmp_path / "data.csv", (
        "question,label,score,checked\n"
        'a?,x,1,true\n'
        '"a multi-line\nquestion?",y,2,\n'
        "c?,z,3,false\n"
    ))
    x, y = load_csv(path, Question, Scored, input_fields={"query": "question"})
    assert [item.query for item in x] == ["a?", "a multi-line\nquestion?", "c?"]
    assert [(item.score, item.checked) for item in y] == [(1, True), (2, False), (3, False)]
    # the bad row starts on line 6 (the quoted cell on lines 3-4 counts for two lines)
    _write(path, path.read_text() + "d?,w,lots,false\n")
    with pytest.raises(DatasetFormatError, match=r"data\.csv, line 6: invalid Scored: field 'score'.*'lots'") as info:
        load_csv(path, Question, Scored, input_fields={"query": "question"})
    assert info.value.line == 6
    _write(path, "question,label,score\na?,x,1\nb?,y\n")
    with pytest.raises(DatasetFormatError, match=r"line 3: the row has 2 cells but the header \(line 1\) has 3"):
        load_csv(path, Question, Scored, input_fields={"query": "question"})
    with pytest.raises(DatasetFormatError, match=r"line 1: the header has no column 'query' \(for Question\)"):
        load_csv(path, Question)
    _write(path, "query;label;score\nsemi;x;4\n")
    x, y = load_csv(path, Question, Scored, delimiter=";")
    assert (x[0].query, y[0].score) == ("semi", 4)


def test_loaders_return_lists_without_numpy(tmp_path, monkeypatch):
    path = _write(tmp_path / "a.jsonl", '{"query": "a"}\n{"query": "b"}\n')
    monkeypatch.setitem(sys.modules, "numpy", None)  # `import numpy` now raises ImportError
    x, y = load_jsonl(path, Question)
    assert isinstance(x, list) and [item.query for item in x] == ["a", "b"] and y is None


DEEP = "[" * 10_000 + "]" * 10_000
TOO_DEEP = f"invalid JSON (nested too deeply: Python reads at most about {sys.getrecursionlimit()} levels)."


@pytest.mark.parametrize("lines, line", [
    ([DEEP], 1),
    ([json.dumps({"query": "a"}), "", '{"query": ' + DEEP + "}"], 3),
], ids=["array", "in-a-field"])
def test_jsonl_nested_10000_deep_is_a_format_error_naming_the_line(tmp_path, lines, line):
    path = _write(tmp_path / "deep.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError) as info:
        load_jsonl(path, Question)
    assert str(info.value) == f"{path}, line {line}: {TOO_DEEP}"
    assert (info.value.line, info.value.path) == (line, str(path))
    assert not isinstance(info.value, RecursionError)


def test_json_nested_10000_deep_is_a_format_error_naming_the_line(tmp_path):
    deep = "\n" + '{"query": ' + DEEP + "}"
    path = _write(tmp_path / "deep.json", '[\n  {"query": "a"},' + deep + "\n]")
    with pytest.raises(DatasetFormatError) as info:
        load_json(path, Question)
    assert str(info.value) == f"{path}, line 3: {TOO_DEEP}"  # the line where the element starts
    assert info.value.line == 3
    # inside an object, under key=: the line where the nesting is deepest
    path = _write(tmp_path / "keyed.json", '{"meta": 1,\n "data": [\n  {"query": "a"},' + deep + "]}")
    with pytest.raises(DatasetFormatError) as info:
        load_json(path, Question, key="data")
    assert str(info.value) == f"{path}, line 4: {TOO_DEEP}"
    assert info.value.line == 4


def test_a_folder_or_unreadable_file_is_a_typed_error(tmp_path):
    with pytest.raises(DatasetUnavailableError) as info:
        load_jsonl(tmp_path, Question)
    assert str(info.value).startswith(f"Cannot read the dataset file {tmp_path}: it is a folder")
