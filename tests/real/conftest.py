"""Processes for the real-model suite: llama.cpp `llama-server` serving SmolLM2 (twice: as
is, and with a chat template that renders tools) and llmgate in front of them.

Environment (set by `make e2e`): LLAMA_SERVER, LLAMA_MODEL, LLAMA_TOOL_TEMPLATE,
LLMGATE_BIN, optionally CLAUDE_BIN.
"""

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

KEY = "demo-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception as e:  # noqa: BLE001 - still starting
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {seconds}s: {last}")


def stop_process(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()


class Llama:
    def __init__(self, extra: list[str], parallel: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            os.environ["LLAMA_SERVER"], "-m", os.environ["LLAMA_MODEL"],
            "--host", "127.0.0.1", "--port", str(self.port), "-a", "smollm2-135m-instruct",
            "-c", str(4096 * parallel), "-np", str(parallel), "-t", str(os.cpu_count() or 2),
            "--no-webui", "--jinja", "--metrics", "--slots",
            # Greedy by default (clients that send a temperature still get it): sampled at
            # llama.cpp's default 0.8, SmolLM2-135M sometimes rambles to max_tokens, which
            # made the Claude Code test (Claude Code sends no temperature) flaky in CI.
            "--temp", "0", "--seed", "1", *extra,
        ]
        self.log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_http(self.url + "/health")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        stop_process(self.proc, grace=10)


class Gateway:
    def __init__(self, llama: Llama, tools: Llama):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="llmgate-e2e-")
        config = f"""
server:
  max_body_bytes: 1048576
auth:
  keys:
    - {{id: e2e, key: {KEY}}}
backends:
  - {{name: llama, kind: llamacpp, url: '{llama.url}/v1', health_check: {{interval_ms: 500}}}}
  - {{name: llama-translate, kind: llamacpp, url: '{llama.url}/v1', anthropic: translate, health_check: {{interval_ms: 500}}}}
  - {{name: llama-tools, kind: llamacpp, url: '{tools.url}/v1', anthropic: translate, health_check: {{interval_ms: 500}}}}
models:
  smollm2: {{backend: llama, upstream_model: smollm2-135m-instruct}}
  smollm2-translate: {{backend: llama-translate, upstream_model: smollm2-135m-instruct}}
  smollm2-tools: {{backend: llama-tools, upstream_model: smollm2-135m-instruct}}
"""
        path = os.path.join(self.dir, "llmgate.yaml")
        with open(path, "w") as f:
            f.write(config)
        self.log_path = os.path.join(self.dir, "llmgate.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [os.environ["LLMGATE_BIN"], "-c", path, "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        try:
            wait_http(self.url + "/readyz")
            self._wait_native()
        except BaseException:
            self.stop()
            raise

    def _wait_native(self) -> None:
        """llama.cpp serves /v1/messages itself; wait until llmgate has found out."""
        deadline = time.time() + 20
        while time.time() < deadline:
            with urllib.request.urlopen(self.url + "/health") as r:
                health = json.load(r)
            states = {b["name"]: b["anthropic"] for b in health["backends"]}
            if states.get("llama") == "native":
                return
            time.sleep(0.1)
        raise RuntimeError(f"native /v1/messages not detected: {states}")

    def logs(self) -> str:
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def logs_with(self, text: str, timeout: float = 5.0) -> str:
        """The log once it contains `text`. llmgate writes log lines from a background
        thread up to 50 ms after they happen (src/logging/sink.rs), so a line may lag the
        response it describes."""
        deadline = time.time() + timeout
        while True:
            logs = self.logs()
            if text in logs or time.time() >= deadline:
                return logs
            time.sleep(0.05)

    def stop(self) -> None:
        stop_process(self.proc, grace=15)


@pytest.fixture(scope="session")
def llama():
    server = Llama(["--embeddings", "--pooling", "mean"], parallel=2)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def llama_tools():
    server = Llama(["--chat-template-file", os.environ["LLAMA_TOOL_TEMPLATE"]], parallel=1)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gateway(llama, llama_tools):
    gw = Gateway(llama, llama_tools)
    yield gw
    gw.stop()
