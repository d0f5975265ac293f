"""``synaplex serve``: the HTTP API started for real on 127.0.0.1 and called with an HTTP client."""

import concurrent.futures
import json
import signal
import time

import httpx2
import pytest

from tests.serving_helpers import (
    Question,
    Reply,
    ServerProcess,
    run_cli,
    save_echo_program,
    save_streaming_program,
    save_two_input_program,
)

ALLOW = ("--allow", "imports")


@pytest.fixture(scope="module")
def program_file(tmp_path_factory):
    return save_echo_program(str(tmp_path_factory.mktemp("serve") / "echo.json"))


@pytest.fixture(scope="module")
def server(program_file, tmp_path_factory):
    process = ServerProcess(program_file, *ALLOW, "--max-body-bytes", "4096", "--max-batch", "4",
                            tmp_path=tmp_path_factory.mktemp("logs")).wait_ready()
    yield process
    assert process.stop() == -signal.SIGTERM


def post(server, path, body=None, **kwargs):
    return httpx2.post(server.url + path, json=body, timeout=30, **kwargs)


# --- the API ------------------------------------------------------------------------------------

def test_health(server):
    reply = httpx2.get(server.url + "/health", timeout=10)
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "program": "echo_qa", "running": 0, "max_concurrency": 64}


def test_run_answers_the_programs_output(server):
    reply = post(server, "/run", {"query": "hello", "style": "long", "repeat": 2})
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
    assert reply.json() == {"answer": "echo: hello (long) echo: hello (long)"}


def test_run_with_trace_reports_modules_lm_calls_tokens_and_time(server):
    reply = post(server, "/run?trace=true", {"query": "traced"})
    assert reply.status_code == 200
    body = reply.json()
    assert body["output"] == {"answer": "echo: traced (short)"}
    trace = body["trace"]
    assert trace["program"] == "echo_qa" and trace["duration_ms"] > 0
    assert [(m["name"], m["type"]) for m in trace["modules"]] == [("echo_qa", "Program"), ("generator", "Generator")]
    program, generator = trace["modules"]
    assert program["lm_calls"] == [] and program["duration_ms"] >= generator["duration_ms"]
    (call,) = generator["lm_calls"]
    assert call["model"] == "scripted" and call["input_tokens"] > 0 and call["output_tokens"] > 0
    assert trace["usage"] == {"lm_calls": 1, "input_tokens": call["input_tokens"],
                              "output_tokens": call["output_tokens"], "total_tokens": call["total_tokens"],
                              "cost": 0.0}


@pytest.mark.parametrize("body, detail", [
    ({"query": 3}, [{"loc": ["body", "query"], "msg": "3 is not of type 'string'", "type": "type"}]),
    ({}, [{"loc": ["body"], "msg": "'query' is a required property", "type": "required"}]),
    ({"query": "x", "extra": 1}, [{"loc": ["body"], "msg": "Additional properties are not allowed ('extra' was "
                                                          "unexpected)", "type": "additionalProperties"}]),
    ({"query": "x", "style": "medium", "repeat": "2"},
     [{"loc": ["body", "repeat"], "msg": "'2' is not of type 'integer'", "type": "type"},
      {"loc": ["body", "style"], "msg": "'medium' is not one of ['short', 'long']", "type": "enum"}]),
    (["a list"], [{"loc": ["body"], "msg": "['a list'] is not of type 'object'", "type": "type"}]),
])
def test_run_answers_422_with_the_validation_errors(server, body, detail):
    reply = post(server, "/run", body)
    assert reply.status_code == 422
    assert reply.json()["detail"] == detail
    assert reply.json()["error"]["type"] == "InputValidationError"


def test_run_answers_400_for_a_body_that_is_not_json(server):
    reply = httpx2.post(server.url + "/run", content=b'{"query": "x"', timeout=10,
                        headers={"content-type": "application/json"})
    assert reply.status_code == 400
    assert reply.json() == {"error": {"type": "InvalidJSON",
                                      "message": "The body is not valid JSON: Expecting ',' delimiter (line 1, "
                                                 "column 14)."}}
    assert httpx2.post(server.url + "/run", content=b"\xff\xfe", timeout=10).json()["error"]["type"] == "InvalidJSON"


def test_an_oversize_body_gets_413_declared_or_streamed(server):
    big = json.dumps({"query": "x" * 5000}).encode()
    reply = httpx2.post(server.url + "/run", content=big, timeout=10)
    assert reply.status_code == 413
    assert reply.json()["error"] == {"type": "PayloadTooLarge", "message": f"The body is {len(big)} bytes; this "
                                     "server takes at most 4096 bytes (--max-body-bytes)."}

    def chunks():   # no Content-Length: the server counts what it reads
        yield b'{"query": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    reply = httpx2.post(server.url + "/run", content=chunks(), timeout=10)
    assert reply.status_code == 413 and "over 4096 bytes" in reply.json()["error"]["message"]


def test_a_failing_language_model_gets_502_with_its_typed_error(server):
    reply = post(server, "/run", {"query": "fail please"})
    assert reply.status_code == 502
    error = reply.json()["error"]
    assert error["type"] == "StructuredOutputError" and "'answer' is a required property" in error["message"]


def test_batch_answers_in_order_with_errors_in_place(server):
    reply = post(server, "/batch", {"inputs": [{"query": "sleep 0.3 a"}, {"query": "fail b"}, {"query": "c"}]})
    assert reply.status_code == 200
    body = reply.json()
    assert body["outputs"] == [{"answer": "echo: sleep 0.3 a (short)"}, None, {"answer": "echo: c (short)"}]
    assert body["errors"][0] is None and body["errors"][2] is None
    assert body["errors"][1]["type"] == "StructuredOutputError"


@pytest.mark.parametrize("body, status, fragment", [
    ({"inputs": [{"query": "a"}, {"query": 2}]}, 422, ["body", "inputs", 1, "query"]),
    ([{"query": "a"}], 422, 'Send {"inputs": [...]}.'),
    ({"inputs": [{"query": "a"}], "more": 1}, 422, 'Send {"inputs": [...]}.'),
    ({"inputs": [{"query": str(i)} for i in range(5)]}, 413, "The batch has 5 inputs; this server takes at most 4"),
])
def test_batch_refuses_bad_bodies(server, body, status, fragment):
    reply = post(server, "/batch", body)
    assert reply.status_code == status
    if isinstance(fragment, list):
        assert reply.json()["detail"][0]["loc"] == fragment
    else:
        assert fragment in reply.json()["error"]["message"]


def _resolve(document, ref):
    node = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_openapi_document_uses_the_programs_data_models(server):
    document = httpx2.get(server.url + "/openapi.json", timeout=10).json()
    assert document["openapi"] == "3.1.0" and document["info"]["title"] == "echo_qa"
    schemas = document["components"]["schemas"]
    assert schemas["Input"] == Question.get_schema() and schemas["Output"] == Reply.get_schema()
    run = document["paths"]["/run"]["post"]
    assert run["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Input"}
    assert set(run["responses"]) == {"200", "400", "413", "422", "502", "503"}   # no 401: no token here
    assert set(document["paths"]) == {"/run", "/batch", "/health"}
    refs = []

    def walk(node):
        if isinstance(node, dict):
            refs.extend(v for k, v in node.items() if k == "$ref")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs and all(_resolve(document, ref) is not None for ref in refs)   # every $ref resolves


def test_a_program_with_definitions_has_them_in_components(tmp_path):
    from synaplex.serving.openapi import openapi_document

    schema = {"type": "object", "properties": {"item": {"$ref": "#/$defs/Item"}}, "$defs": {
        "Item": {"type": "object", "properties": {"tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}}}},
        "Tag": {"type": "string"}}}
    document = openapi_document("p", None, schema, {"type": "object"}, auth=True, max_batch=3)
    schemas = document["components"]["schemas"]
    assert schemas["Input"] == {"type": "object", "properties": {"item": {"$ref": "#/components/schemas/Item"}}}
    assert schemas["Item"]["properties"]["tags"]["items"] == {"$ref": "#/components/schemas/Tag"}
    assert schemas["Tag"] == {"type": "string"}
    assert document["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    assert "401" in document["paths"]["/run"]["post"]["responses"]


def test_unknown_paths_and_methods(server):
    assert httpx2.get(server.url + "/nope", timeout=10).status_code == 404
    assert httpx2.get(server.url + "/run", timeout=10).status_code == 405


# --- serving options ----------------------------------------------------------------------------

def test_serve_refuses_a_file_that_needs_trust(program_file):
    result = run_cli("serve", program_file, "--port", "0")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: Cannot load")
    assert "If you trust this file, pass --allow imports" in result.stderr


def test_serve_without_the_serve_extra_says_what_to_install(program_file):
    import subprocess
    import sys

    from tests.serving_helpers import ROOT

    code = ("import sys; sys.modules['starlette'] = None; from synaplex.cli import main; "
            f"sys.exit(main(['serve', {program_file!r}, '--allow', 'imports']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == ("Error: synaplex serve needs the 'serve' extra (starlette is not installed): "
                                     "pip install 'synaplex[serve]'")


def test_bearer_token_auth(program_file, tmp_path):
    token = "s3cret-Token-value-0123456789"
    wrong = "wrong-Token-value-9876543210"
    server = ServerProcess(program_file, *ALLOW, env={"SYNAPLEX_SERVE_TOKEN": token}, tmp_path=tmp_path).wait_ready()
    try:
        body = {"query": "auth"}
        missing = post(server, "/run", body)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["error"]["message"] == ("Missing or wrong bearer token: send 'Authorization: Bearer "
                                                      "<token>'.")
        assert post(server, "/run", body, headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
        assert post(server, "/run", body, headers={"Authorization": f"Basic {token}"}).status_code == 401
        assert post(server, "/run", body, headers={"Authorization": f"Bearer {token[:-1]}"}).status_code == 401
        ok = post(server, "/run", body, headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json() == {"answer": "echo: auth (short)"}
        for path in ("/openapi.json", "/schema"):
            assert httpx2.get(server.url + path, timeout=10).status_code == 401
        assert post(server, "/batch", {"inputs": [body]}).status_code == 401
        # the liveness probe and the playground's (data-free) page stay open
        assert httpx2.get(server.url + "/health", timeout=10).status_code == 200
        assert httpx2.get(server.url + "/", timeout=10).status_code == 200
        assert "securitySchemes" in httpx2.get(server.url + "/openapi.json", timeout=10,
                                               headers={"Authorization": f"Bearer {token}"}).json()["components"]
    finally:
        assert server.stop() == -signal.SIGTERM
    log = server.log()
    assert "POST /run" in log and token not in log and wrong not in log


def test_a_token_file_that_cannot_be_read_is_one_line(program_file, tmp_path):
    result = run_cli("serve", program_file, *ALLOW, "--token-file", str(tmp_path / "missing"), "--port", "0")
    assert result.returncode == 1
    assert result.stderr.strip() == (f"Error: Cannot read --token-file '{tmp_path / 'missing'}': No such file or "
                                     "directory.")


def test_token_file(program_file, tmp_path):
    (tmp_path / "token").write_text("from-a-file-token\n")
    server = ServerProcess(program_file, *ALLOW, "--token-file", str(tmp_path / "token"), tmp_path=tmp_path,
                           env={"SYNAPLEX_SERVE_TOKEN": ""}).wait_ready()
    try:
        assert post(server, "/run", {"query": "q"}).status_code == 401
        assert post(server, "/run", {"query": "q"},
                    headers={"Authorization": "Bearer from-a-file-token"}).status_code == 200
    finally:
        assert server.stop() == -signal.SIGTERM


def test_concurrency_limit_queues_then_answers_503(program_file, tmp_path):
    server = ServerProcess(program_file, *ALLOW, "--max-concurrency", "1", "--queue-timeout", "0.5",
                           tmp_path=tmp_path).wait_ready()
    try:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            slow = pool.submit(post, server, "/run", {"query": "sleep 2 slow"})
            time.sleep(0.7)
            assert httpx2.get(server.url + "/health", timeout=10).json()["running"] == 1
            busy = post(server, "/run", {"query": "waits too long"})
            assert slow.result().status_code == 200
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert busy.json()["error"] == {"type": "ServerBusyError", "message": "The server is busy: all 1 slots "
                                        "stayed taken for 0.5 s. Retry later."}
        # a request that waits less than the queue timeout gets its turn
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(post, server, "/run", {"query": "sleep 0.2 one"})
            time.sleep(0.05)
            second = pool.submit(post, server, "/run", {"query": "two"})
            assert first.result().status_code == 200 and second.result().status_code == 200
    finally:
        assert server.stop() == -signal.SIGTERM


def test_graceful_shutdown_finishes_the_requests_in_flight(program_file, tmp_path):
    server = ServerProcess(program_file, *ALLOW, tmp_path=tmp_path).wait_ready()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(post, server, "/run", {"query": "sleep 1.5 in flight"})
        deadline = time.monotonic() + 10
        while httpx2.get(server.url + "/health", timeout=10).json()["running"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        reply = in_flight.result()
    assert reply.status_code == 200 and reply.json() == {"answer": "echo: sleep 1.5 in flight (short)"}
    assert server.stop() == -signal.SIGTERM
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(server.url + "/health", timeout=5)
    assert "Shutting down" in server.log()


# --- streaming ----------------------------------------------------------------------------------

def _events(text):
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_a_streaming_program_streams_server_sent_events(tmp_path):
    program_file = save_streaming_program(str(tmp_path / "stream.json"))
    server = ServerProcess(program_file, *ALLOW, tmp_path=tmp_path).wait_ready()
    try:
        body = {"messages": [{"role": "user", "content": "tell me three things"}]}
        with httpx2.stream("POST", server.url + "/run?trace=true", json=body, timeout=30,
                           headers={"Accept": "text/event-stream"}) as reply:
            assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
            events = _events(reply.read().decode())
        chunks = [data["text"] for event, data in events if event == "chunk"]
        assert len(chunks) > 3 and "".join(chunks) == "You said: tell me three things"
        event, result = events[-1]
        assert event == "result" and [e for e, _ in events[:-1]] == ["chunk"] * len(chunks)
        assert result["output"]["content"] == "You said: tell me three things"
        assert result["trace"]["usage"]["lm_calls"] == 1
        # the same program without an SSE request: the whole message as JSON
        plain = post(server, "/run", body)
        assert plain.status_code == 200 and plain.json()["content"] == "You said: tell me three things"
        # a bad input is refused before any event
        bad = httpx2.post(server.url + "/run", json={"messages": "nope"}, headers={"Accept": "text/event-stream"},
                          timeout=10)
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "messages"]
    finally:
        assert server.stop() == -signal.SIGTERM


# --- several inputs -----------------------------------------------------------------------------

def test_a_program_of_two_inputs_takes_a_json_array(tmp_path):
    program_file = save_two_input_program(str(tmp_path / "two.json"))
    server = ServerProcess(program_file, *ALLOW, tmp_path=tmp_path).wait_ready()
    try:
        reply = post(server, "/run", [{"query": "both"}, {"answer": "draft"}])
        assert reply.status_code == 200 and reply.json() == {"answer": "echo: both (short)"}
        batch = post(server, "/batch", {"inputs": [[{"query": "one"}, {"answer": "a"}],
                                                   [{"query": "two", "shout": True}, {"answer": "b"}]]})
        assert batch.status_code == 200
        assert [o["answer"] for o in batch.json()["outputs"]] == ["echo: one (short)", "ECHO: TWO (SHORT)"]
        short = post(server, "/run", [{"query": "only one"}])
        assert short.status_code == 422
        assert short.json()["detail"][0]["msg"] == "the program takes 2 inputs: send a JSON array of 2 objects"
        schema = httpx2.get(server.url + "/openapi.json", timeout=10).json()
        request = schema["components"]["schemas"]["Input"]
        assert request["type"] == "array" and [item["title"] for item in request["prefixItems"]] == ["Question",
                                                                                                   "Reply"]
    finally:
        assert server.stop() == -signal.SIGTERM
