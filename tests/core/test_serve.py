"""`agent serve` on the embedded defaults, as `make run` starts it: a real process and port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx2
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "GEMINI_", "API_KEYS", "RATE_LIMIT"))
    }
    env |= {"PORT": str(port), "HOST": "127.0.0.1", "SECRETS_DIR": "/nonexistent"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{url}/ready", timeout=1, trust_env=False).status_code == 200:
                break
        except httpx2.TransportError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError(f"agent serve did not become ready:\n{proc.communicate()[0]}")
    yield url, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_embedded_defaults_answer_the_seed_question(
    served: tuple[str, subprocess.Popen[str]],
) -> None:
    url, proc = served
    with httpx2.Client(base_url=url, trust_env=False, timeout=10) as client:
        r = client.post("/api/v1/chat", json={"message": "What is 12*34?"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert "408" in body["response"] and body["tokens_used"] > 0
        assert "emulator" in body["model"]
        session = client.get(f"/api/v1/sessions/{body['session_id']}").json()
        steps = [p for m in session["messages"] for p in m["parts"] if "function_call" in p]
        assert steps and steps[0]["function_call"]["name"] == "calculator"
        health = client.get("/health").json()
        assert health["model_backend"] == "emulator" and health["database"] == "memory"
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit by SIGTERM).
    assert proc.returncode in (0, -signal.SIGTERM)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(line.get("msg") == "service stopped" for line in lines)
    # The embedded default says what it runs on, in the logs too.
    assert any("emulator" in line.get("msg", "") for line in lines)
    assert any("open" in line.get("msg", "") for line in lines)
    assert all("request_id" in line for line in lines if line.get("logger") == "api.access")


def test_chat_and_healthcheck_commands(served: tuple[str, subprocess.Popen[str]]) -> None:
    url, _proc = served
    port = url.rsplit(":", 1)[1]
    cli = [sys.executable, "-m", "agent.cli"]
    out = subprocess.run(
        [*cli, "chat", "--url", url, "What", "is", "12*34?"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0 and "408" in out.stdout
    # A prompt loop on stdin keeps one session: the second answer remembers the first turn.
    out = subprocess.run(
        [*cli, "chat", "--url", url],
        input="my name is Grace\nwhat is my name?\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0 and "Your name is Grace" in out.stdout
    ok = subprocess.run([*cli, "healthcheck"], env={**os.environ, "PORT": port}, timeout=30)
    assert ok.returncode == 0
    down = subprocess.run(
        [*cli, "healthcheck"], env={**os.environ, "PORT": str(free_port())}, timeout=30
    )
    assert down.returncode == 1
