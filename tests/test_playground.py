"""The playground page at ``/``, used as a user uses it: headless Chromium (the system's,
driven by Playwright) fills the form generated from the input DataModel, submits it, and
reads the answer and the trace. ``scripts/test.sh`` installs Chromium when it is missing."""

import json
import shutil
import signal

import pytest
from playwright.sync_api import sync_playwright

from tests.serving_helpers import ServerProcess, save_echo_program

ALLOW = ("--allow", "imports")


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Chromium is not installed: scripts/test.sh installs it (apt-get install chromium)"
    return path


@pytest.fixture(scope="module")
def browser(program_file):
    # Playwright's sync API runs an event loop in this thread: the program file is written first
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def program_file(tmp_path_factory):
    return save_echo_program(str(tmp_path_factory.mktemp("playground") / "echo.json"))


@pytest.fixture(scope="module")
def server(program_file, tmp_path_factory):
    process = ServerProcess(program_file, *ALLOW, tmp_path=tmp_path_factory.mktemp("logs")).wait_ready()
    yield process
    assert process.stop() == -signal.SIGTERM


def trace_rows(page):
    return [[cell.inner_text() for cell in row.query_selector_all("td")]
            for row in page.query_selector_all("#trace tbody tr")]


def test_the_form_runs_the_program_and_shows_output_and_trace(browser, server):
    page = browser.new_page()
    page.goto(server.url + "/")
    page.wait_for_selector("#form:not(.hidden)")
    assert page.inner_text("#title") == "echo_qa" and page.inner_text("#description") == "Echoes the question."
    # one control per field of the input DataModel, of the field's kind
    assert page.get_attribute("#field-0-query", "data-kind") == "string"
    assert page.eval_on_selector("#field-0-style", "el => el.tagName") == "SELECT"
    assert page.get_attribute("#field-0-repeat", "type") == "number"
    assert page.get_attribute("#field-0-shout", "type") == "checkbox"
    assert page.input_value("#field-0-repeat") == "1"    # the DataModel's default
    assert "What to ask." in page.inner_text("label[for=field-0-query]")

    page.fill("#field-0-query", "What is synaplex?")
    page.select_option("#field-0-style", label="long")
    page.fill("#field-0-repeat", "2")
    page.check("#field-0-shout")
    page.click("#submit")
    page.wait_for_function("document.getElementById('output').textContent.length > 0")
    assert json.loads(page.inner_text("#output")) == {
        "answer": "ECHO: WHAT IS SYNAPLEX? (LONG) ECHO: WHAT IS SYNAPLEX? (LONG)"}
    rows = trace_rows(page)
    assert [row[:2] for row in rows] == [["echo_qa", "Program"], ["generator", "Generator"]]
    assert rows[1][4] == "1" and int(rows[1][5]) > 0 and int(rows[1][6]) > 0   # one LM call, its tokens
    assert float(rows[0][3]) > 0
    summary = page.inner_text("#summary")
    assert "2 module calls · 1 LM calls · " in summary and summary.endswith(" ms")
    assert page.inner_text("#error") == ""


def test_the_form_shows_the_servers_validation_errors(browser, server):
    page = browser.new_page()
    page.goto(server.url + "/")
    page.wait_for_selector("#form:not(.hidden)")
    page.fill("#field-0-query", "fractional")
    page.fill("#field-0-repeat", "1.5")
    page.click("#submit")
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    error = page.inner_text("#error")
    assert "The input does not match the program's input DataModel" in error
    assert "• repeat: 1.5 is not of type 'integer'" in error
    assert page.inner_text("#output") == ""


def test_a_failing_program_shows_its_error(browser, server):
    page = browser.new_page()
    page.goto(server.url + "/")
    page.wait_for_selector("#form:not(.hidden)")
    page.fill("#field-0-query", "fail <b>bold</b>")
    page.click("#submit")
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    assert "the reply does not match the schema Reply" in page.inner_text("#error")
    assert page.query_selector("#error b") is None   # text, never HTML


def test_the_playground_asks_for_the_token_of_a_protected_server(browser, program_file, tmp_path):
    token = "playground-Token-42"
    server = ServerProcess(program_file, *ALLOW, env={"SYNAPLEX_SERVE_TOKEN": token}, tmp_path=tmp_path).wait_ready()
    try:
        page = browser.new_page()
        page.goto(server.url + "/")
        page.wait_for_selector("#auth:not(.hidden)")
        assert page.is_hidden("#form")
        page.fill("#token", "not-the-token")
        page.click("#connect")
        page.wait_for_function("document.getElementById('error').textContent === 'Wrong token.'")
        page.fill("#token", token)
        page.click("#connect")
        page.wait_for_selector("#form:not(.hidden)")
        page.fill("#field-0-query", "with a token")
        page.click("#submit")
        page.wait_for_function("document.getElementById('output').textContent.length > 0")
        assert json.loads(page.inner_text("#output")) == {"answer": "echo: with a token (short)"}
    finally:
        assert server.stop() == -signal.SIGTERM
    assert token not in server.log()
