"""The ``synaplex`` command, run as a user runs it (a child process) or through ``main`` in
this process where a child would only add start-up time. Every bad input has its exit code
and its one-line message checked."""

import importlib.metadata
import json
import os
import subprocess
import sys

import pytest

import synaplex
from synaplex.cli import main
from tests.loopback_http import LoopbackServer, Reply
from tests.serving_helpers import ROOT, run_cli, save_echo_program, save_streaming_program

ALLOW = ("--allow", "imports")   # the echo program's reply function is saved by import path


@pytest.fixture(scope="module")
def program_file(tmp_path_factory):
    return save_echo_program(str(tmp_path_factory.mktemp("cli") / "echo.json"))


def invoke(capsys, *args):
    """``synaplex ARGS`` in this process: (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def write_lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


# --- the console script, help, version ------------------------------------------------------

def test_the_console_script_names_a_function_that_exists():
    (entry,) = [ep for ep in importlib.metadata.entry_points(group="console_scripts") if ep.name == "synaplex"]
    assert entry.value == "synaplex.cli:main"
    assert entry.load() is main


@pytest.mark.parametrize("command", ["", "run", "evaluate", "fit", "summary", "plot", "models", "version", "serve"])
def test_every_command_has_help(capsys, command):
    code, out, _ = invoke(capsys, *([command] if command else []), "--help")
    assert code == 0
    assert out.startswith(f"Usage: synaplex {command}".rstrip())
    assert "--debug" in out


def test_version(capsys):
    code, out, _ = invoke(capsys, "version")
    assert code == 0 and out.startswith(f"synaplex {synaplex.__version__} (Python ")
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"synaplex {synaplex.__version__}"


def test_without_click_the_command_says_which_extra_to_install():
    code = "import sys; sys.modules['click'] = None; from synaplex.cli import main; sys.exit(main(['version']))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: the synaplex command needs the 'cli' extra: pip install 'synaplex[cli]'"


def test_an_unknown_command_is_a_usage_error(capsys):
    code, _, err = invoke(capsys, "launch")
    assert code == 2 and "No such command 'launch'" in err


# --- run ------------------------------------------------------------------------------------

def test_run_one_input_prints_the_output_as_json(program_file):
    result = run_cli("run", program_file, *ALLOW, "--input", '{"query": "What is 2+2?", "repeat": 2}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"answer": "echo: What is 2+2? (short) echo: What is 2+2? (short)"}


def test_run_reads_json_lines_and_answers_in_input_order(program_file):
    # the first input waits 0.5 s, so with --batch-size 3 it finishes last: the output keeps input order
    lines = ['{"query": "sleep 0.5 first"}', "", '{"query": "second"}', '{"query": "third", "shout": true}']
    result = run_cli("run", program_file, *ALLOW, "--batch-size", "3", stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"answer": "echo: sleep 0.5 first (short)"}, {"answer": "echo: second (short)"},
        {"answer": "ECHO: THIRD (SHORT)"}]


def test_run_reports_a_failed_input_on_its_line_and_exits_1(program_file, capsys, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO('{"query": "ok"}\n{"query": "fail now"}\n'))
    code, out, err = invoke(capsys, "run", program_file, *ALLOW)
    assert code == 1
    first, second = [json.loads(line) for line in out.splitlines()]
    assert first == {"answer": "echo: ok (short)"}
    assert second["error"]["type"] == "StructuredOutputError" and "'answer' is a required property" in \
        second["error"]["message"]
    assert err.strip() == "Error: 1 of 2 inputs failed (input line 2)."


class Writes:
    """A stdout that keeps each write and marks each flush."""

    def __init__(self):
        self.parts: list[str] = []

    def write(self, text):
        self.parts.append(text)
        return len(text)

    def flush(self):
        self.parts.append("<flush>")

    def isatty(self):
        return False


def test_run_stream_prints_a_streaming_programs_text_piece_by_piece(tmp_path, monkeypatch):
    stream_file = save_streaming_program(str(tmp_path / "stream.json"))
    out = Writes()
    monkeypatch.setattr(sys, "stdout", out)
    body = json.dumps({"messages": [{"role": "user", "content": "tell me three things"}]})
    assert main(["run", stream_file, *ALLOW, "--stream", "--input", body]) == 0
    pieces = [part for part in out.parts if part != "<flush>"]
    assert "".join(pieces) == "You said: tell me three things\n"  # plain text, not JSON
    flushed = "".join(out.parts).split("<flush>")
    assert len([chunk for chunk in flushed if chunk]) > 3  # each piece left as it came, not all at the end


def test_run_stream_on_a_program_that_does_not_stream_prints_its_json(program_file, capsys):
    code, out, _ = invoke(capsys, "run", program_file, *ALLOW, "--stream", "--input", '{"query": "hi"}')
    assert code == 0 and json.loads(out) == json.loads(invoke(capsys, "run", program_file, *ALLOW, "--input",
                                                              '{"query": "hi"}')[1])


def test_run_stream_needs_one_input(program_file, capsys):
    code, _, err = invoke(capsys, "run", program_file, *ALLOW, "--stream")
    assert_one_line_error(code, err, "--stream prints one reply as it comes", "--input")


def test_run_model_overrides_the_programs_language_model(program_file, capsys, monkeypatch):
    seen = []

    def handler(request):
        seen.append(json.loads(request.body))
        body = {"id": "c1", "object": "chat.completion", "model": "gpt-test", "choices": [
            {"index": 0, "finish_reason": "stop",
             "message": {"role": "assistant", "content": '{"answer": "from the override"}'}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}}
        return Reply(200, {"content-type": "application/json"}, json.dumps(body).encode())

    with LoopbackServer(handler) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-override")
        code, out, err = invoke(capsys, "run", program_file, *ALLOW, "--model", "openai/gpt-test",
                                "--input", '{"query": "hi"}')
    assert code == 0, err
    assert json.loads(out) == {"answer": "from the override"}
    assert [r["model"] for r in seen] == ["gpt-test"]
    assert "hi" in seen[0]["messages"][-1]["content"]


@pytest.mark.parametrize("args, stdin, fragments", [
    (["--input", '{"query": '], None, ["--input is not valid JSON: Expecting value (line 1, column 11)."]),
    (["--input", '{"query": 42}'], None,
     ["The input does not match the program's input DataModel", "--input.query: 42 is not of type 'string'"]),
    (["--input", '{"question": "hi"}'], None, ["'query' is a required property", "'question' was unexpected"]),
    (["--input", '{"query": "hi", "style": "medium"}'], None, ["--input.style: 'medium' is not one of"]),
    ([], '{"query": "a"}\n{"query": \n', ["stdin line 2 is not valid JSON"]),
    ([], '{"query": "a"}\n{"query": 1}\n', ["stdin line 2.query: 1 is not of type 'string'"]),
    ([], "\n\n", ["stdin holds no input"]),
])
def test_run_refuses_bad_inputs_in_one_line(program_file, args, stdin, fragments):
    result = run_cli("run", program_file, *ALLOW, *args, stdin=stdin if stdin is not None else "")
    assert_one_line_error(result.returncode, result.stderr, *fragments)
    assert result.stdout == ""


def test_a_missing_program_file_is_one_line(capsys, tmp_path):
    code, _, err = invoke(capsys, "run", str(tmp_path / "nope.json"), "--input", "{}")
    assert_one_line_error(code, err, f"Cannot load '{tmp_path / 'nope.json'}': no such file.")


def test_a_file_that_is_not_a_program_is_one_line(capsys, tmp_path):
    path = tmp_path / "data.json"
    path.write_text('{"hello": 1}')
    code, _, err = invoke(capsys, "summary", str(path))
    assert_one_line_error(code, err, "it is not a synaplex.program file")


def test_a_file_that_needs_trust_is_refused_without_allow(program_file):
    result = run_cli("run", program_file, "--input", '{"query": "hi"}')
    assert_one_line_error(result.returncode, result.stderr, "in safe mode",
                          "would import the module 'tests.serving_helpers'",
                          "If you trust this file, pass --allow imports (or --unsafe for everything).")
    assert "allow=(" not in result.stderr and result.stdout == ""
    unsafe = run_cli("run", program_file, "--unsafe", "--input", '{"query": "hi"}')
    assert unsafe.returncode == 0 and json.loads(unsafe.stdout) == {"answer": "echo: hi (short)"}


def test_an_unknown_capability_is_a_usage_error(capsys, program_file):
    code, _, err = invoke(capsys, "run", program_file, "--allow", "imports,network", "--input", "{}")
    assert code == 2 and "unknown capability 'network'" in err


def test_debug_shows_the_traceback(capsys, tmp_path):
    code, _, err = invoke(capsys, "--debug", "run", str(tmp_path / "nope.json"), "--input", "{}")
    assert code == 1 and "Traceback (most recent call last)" in err and "CommandError" in err
    assert err.strip().splitlines()[-1] == f"Error: Cannot load '{tmp_path / 'nope.json'}': no such file."


# --- evaluate and fit -------------------------------------------------------------------------

@pytest.fixture
def data_file(tmp_path):
    return write_lines(tmp_path / "data.jsonl", [
        {"query": "a", "answer": "echo: a (short)"},                                  # flat: split by schema
        {"input": {"query": "b", "style": "long"}, "output": {"answer": "echo: b (long)"}},
        {"query": "c", "answer": "something else"},
    ])


def test_evaluate_prints_reward_and_metrics(capsys, program_file, data_file):
    code, out, err = invoke(capsys, "evaluate", program_file, data_file, *ALLOW, "--reward", "exact_match",
                            "--metric", "f1_score", "--json")
    assert code == 0, err
    logs = json.loads(out)
    assert logs["reward"] == pytest.approx(2 / 3)
    assert logs["f1_score"] == pytest.approx((1 + 1 + 0) / 3, abs=1e-6)   # "echo: c (short)" shares no token
    assert logs["errors"] == 0 and logs["inference_calls"] == 3
    code, out, _ = invoke(capsys, "evaluate", program_file, data_file, *ALLOW, "-r", "exact_match")
    assert code == 0
    assert "reward" in out and "0.6667" in out and "3 examples" in out


@pytest.mark.parametrize("args, fragments", [
    (["--reward", "exact_mach"], ["Unknown reward 'exact_mach'.", "Did you mean 'exact_match'?"]),
    (["--reward", "exact_match", "--metric", "f1"], ["Unknown metric 'f1'.", "Did you mean", "'f1_score'"]),
    ([], ["evaluate needs --reward (e.g. --reward exact_match)"]),
])
def test_evaluate_refuses_bad_ids(capsys, program_file, data_file, args, fragments):
    code, _, err = invoke(capsys, "evaluate", program_file, data_file, *ALLOW, *args)
    assert_one_line_error(code, err, *fragments)


def test_evaluate_refuses_bad_data_files(capsys, program_file, tmp_path):
    bad_field = write_lines(tmp_path / "bad.jsonl", [{"query": "a", "answer": "x"}, {"query": "b", "label": "y"}])
    code, _, err = invoke(capsys, "evaluate", program_file, bad_field, *ALLOW, "-r", "exact_match")
    assert_one_line_error(code, err, f"{bad_field} line 2: unknown field(s) 'label'")
    not_json = tmp_path / "broken.jsonl"
    not_json.write_text('{"query": "a", "answer": "x"}\n[1, 2\n')
    code, _, err = invoke(capsys, "evaluate", program_file, str(not_json), *ALLOW, "-r", "exact_match")
    assert_one_line_error(code, err, f"{not_json} line 2 is not valid JSON")
    code, _, err = invoke(capsys, "evaluate", program_file, str(tmp_path / "none.jsonl"), *ALLOW, "-r", "exact_match")
    assert_one_line_error(code, err, "no such file")


def test_fit_trains_and_saves_the_program(capsys, program_file, tmp_path):
    # "learn ..." queries are answered right only once a few-shot example is in the prompt
    train = write_lines(tmp_path / "train.jsonl", [{"query": f"learn {q}", "answer": f"echo: learn {q} (short)"}
                                                   for q in "abcdef"])
    output = tmp_path / "trained.json"
    code, out, _ = invoke(capsys, "evaluate", program_file, train, *ALLOW, "-r", "exact_match", "--json")
    assert code == 0 and json.loads(out)["reward"] == 0.0
    code, out, err = invoke(capsys, "fit", program_file, train, *ALLOW, "--reward", "exact_match", "--optimizer",
                            "random_few_shot", "--epochs", "2", "--batch-size", "3", "--seed", "0",
                            "-o", str(output), "--json")
    assert code == 0, err
    assert json.loads(out)["reward"] == 1.0
    assert f"Saved the trained program to {output}" in err
    trained = synaplex.Program.load(str(output), allow=("imports",))
    examples = trained.get_module(name="generator").state.get("examples")
    assert examples, "RandomFewShot kept no example"
    assert all(e["outputs"]["answer"] == f"echo: {e['inputs']['query']} (short)" for e in map(_pair, examples))
    assert trained.optimizer is not None and type(trained.optimizer).__name__ == "RandomFewShot"
    code, out, _ = invoke(capsys, "evaluate", str(output), train, *ALLOW, "--json")   # its saved reward
    assert code == 0 and json.loads(out)["reward"] == 1.0


def _pair(example):
    return example if isinstance(example, dict) else {"inputs": example[0], "outputs": example[1]}


def test_fit_refuses_an_unknown_optimizer(capsys, program_file, data_file, tmp_path):
    code, _, err = invoke(capsys, "fit", program_file, data_file, *ALLOW, "-r", "exact_match", "--optimizer",
                          "random_fewshot_x", "-o", str(tmp_path / "t.json"))
    assert_one_line_error(code, err, "Unknown optimizer 'random_fewshot_x'")
    assert not (tmp_path / "t.json").exists()
    code, _, err = invoke(capsys, "fit", program_file, data_file, *ALLOW, "-r", "exact_match",
                          "-o", str(tmp_path / "t.json"))
    assert_one_line_error(code, err, "fit needs --optimizer")


# --- summary, plot, models --------------------------------------------------------------------

def test_summary_lists_the_modules(capsys, program_file):
    code, out, _ = invoke(capsys, "summary", program_file, *ALLOW)
    assert code == 0
    assert "echo_qa" in out and "generator" in out and "Generator" in out and "Reply" in out


def test_plot_writes_a_png_and_a_dot(capsys, program_file, tmp_path):
    png = tmp_path / "program.png"
    code, _, err = invoke(capsys, "plot", program_file, *ALLOW, "-o", str(png))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dot = tmp_path / "program.dot"
    assert invoke(capsys, "plot", program_file, *ALLOW, "-o", str(dot))[0] == 0
    assert dot.read_text().startswith("digraph") and "generator" in dot.read_text()
    assert sorted(os.listdir(tmp_path)) == ["program.dot", "program.png"]   # no scratch files left
    code, _, err = invoke(capsys, "plot", program_file, *ALLOW, "-o", str(tmp_path / "program.svg"))
    assert_one_line_error(code, err, "write a .png or a .dot file")


def test_models_lists_providers_and_a_providers_catalogue(capsys):
    code, out, _ = invoke(capsys, "models", "--json")
    assert code == 0
    providers = {row["provider"]: row for row in json.loads(out)}
    assert providers["openai"]["models"] > 0 and providers["openai"]["live_list"] is True
    assert providers["azure"]["live_list"] is False
    code, out, _ = invoke(capsys, "models", "anthropic", "--json")
    rows = json.loads(out)
    assert code == 0 and rows and all(row["model"].startswith("anthropic/") for row in rows)
    code, out, _ = invoke(capsys, "models", "anthropic")
    assert code == 0 and "anthropic/" in out and "catalogue" in out


def test_models_live_asks_the_providers_models_endpoint(capsys, monkeypatch):
    def handler(request):
        if request.headers.get("authorization") != "Bearer sk-live-secret":
            return Reply(401, {"content-type": "application/json"}, b'{"error": {"message": "bad key"}}')
        body = {"object": "list", "data": [{"id": "model-b", "object": "model"}, {"id": "model-a", "object": "model"}]}
        return Reply(200, {"content-type": "application/json"}, json.dumps(body).encode())

    with LoopbackServer(handler) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-live-secret")
        code, out, err = invoke(capsys, "models", "openai", "--live", "--json")
        assert code == 0, err
        assert json.loads(out)["live"] == ["model-a", "model-b"]
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-secret")
        code, out, err = invoke(capsys, "models", "openai", "--live")
    assert_one_line_error(code, err)
    assert "sk-wrong-secret" not in err and "sk-wrong-secret" not in out


@pytest.mark.parametrize("args, fragments", [
    (["nosuchprovider"], ["Unknown provider 'nosuchprovider'"]),
    (["--live"], ["--live needs a PROVIDER"]),
    (["azure", "--live"], ["azure has no endpoint that lists its models"]),
])
def test_models_refuses_bad_requests(capsys, args, fragments):
    code, _, err = invoke(capsys, "models", *args)
    assert_one_line_error(code, err, *fragments)
