"""Program files and real server processes for the command-line, serving and playground tests.

The programs run on the scripted model with :func:`reply`, saved by its import path: loading
such a file needs ``--allow imports`` (the tests check that it is refused without it). Servers
are started as the user starts them, ``python -m synaplex.cli serve ...``, on a free port of
127.0.0.1, and are stopped by signal.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Literal

import httpx2

import synaplex

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Question(synaplex.DataModel):
    query: str = synaplex.Field(description="What to ask.")
    style: Literal["short", "long"] = "short"
    repeat: int = 1
    shout: bool = False


class Reply(synaplex.DataModel):
    answer: str


def _last_input(messages) -> dict:
    return json.loads(messages[-1]["content"])


async def reply(messages, schema):
    """Echo the question: ``"echo: <query> (<style>)"`` repeated and upper-cased as asked.
    A query ``"sleep S ..."`` waits S seconds first; ``"fail ..."`` answers an invalid reply;
    ``"learn ..."`` is answered ``"unknown"`` unless the prompt holds a few-shot example of such
    an answer (what training with RandomFewShot adds)."""
    if schema is None:   # chat mode (the streaming program): a few words to stream
        return {"content": f"You said: {messages[-1]['content']}"}
    question = _last_input(messages)
    query = question["query"]
    if query.startswith("sleep "):
        await asyncio.sleep(float(query.split()[1]))
    if query.startswith("fail"):
        return {"wrong": "field"}
    shown = any(m["role"] == "assistant" and "echo: learn" in (m["content"] or "") for m in messages[:-1])
    if query.startswith("learn") and not shown:
        return {"answer": "unknown"}
    answer = " ".join([f"echo: {query} ({question.get('style', 'short')})"] * question.get("repeat", 1))
    return {"answer": answer.upper() if question.get("shout") else answer}


def save_echo_program(path: str, name: str = "echo_qa") -> str:
    """A functional Question -> Reply program on the scripted model answering with :func:`reply`."""
    synaplex.clear_session()   # its Generator is named "generator" whatever was built before

    async def build():
        lm = synaplex.LanguageModel(model="scripted", responses=reply)
        inputs = synaplex.Input(data_model=Question)
        outputs = await synaplex.Generator(data_model=Reply, language_model=lm)(inputs)
        return synaplex.Program(inputs=inputs, outputs=outputs, name=name, description="Echoes the question.")

    asyncio.run(build()).save(path)
    return str(path)


def save_two_input_program(path: str) -> str:
    """A program of two named inputs, a Question and a draft Reply, merged into one Generator."""
    synaplex.clear_session()

    async def build():
        lm = synaplex.LanguageModel(model="scripted", responses=reply)
        question = synaplex.Input(data_model=Question, name="question")
        draft = synaplex.Input(data_model=Reply, name="draft")
        outputs = await synaplex.Generator(data_model=Reply, language_model=lm)(question & draft)
        return synaplex.Program(inputs=[question, draft], outputs=outputs, name="two_inputs")

    asyncio.run(build()).save(path)
    return str(path)


def save_streaming_program(path: str) -> str:
    """A chat program whose Generator streams (ChatMessages -> a streamed ChatMessage)."""
    synaplex.clear_session()

    async def build():
        lm = synaplex.LanguageModel(model="scripted", responses=reply)
        inputs = synaplex.Input(data_model=synaplex.ChatMessages)
        outputs = await synaplex.Generator(language_model=lm, streaming=True)(inputs)
        return synaplex.Program(inputs=inputs, outputs=outputs, name="streaming_chat")

    asyncio.run(build()).save(path)
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "synaplex.cli", *args]


def run_cli(*args: str, stdin: str | None = None, env: dict | None = None, timeout: float = 120):
    """Run ``synaplex ARGS`` in a child process (as a user would) and return the result."""
    return subprocess.run(cli_command(*args), input=stdin, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=timeout)


class ServerProcess:
    """``synaplex serve ARGS`` in a child process, its stderr captured to a file."""

    def __init__(self, *args: str, env: dict | None = None, tmp_path=None, health_path: str = "/health"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(str(tmp_path), f"server-{self.port}.log")
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(cli_command("serve", *args, "--port", str(self.port)), cwd=ROOT,
                                        env={**os.environ, **(env or {})}, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        self.health_path = health_path

    def wait_ready(self, timeout: float = 60.0) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                if self.health_path is None:
                    return self
                if httpx2.get(self.url + self.health_path, timeout=5).status_code == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not start within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        with open(self.log_path) as file:
            return file.read()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code
