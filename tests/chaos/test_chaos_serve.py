"""`agent serve` as a plain process (no Docker needed): the read deadline answers slow clients
with a 408 and leaves the others alone; SIGTERM lets an in-flight request finish."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.integration.processes import AgentProcess, agent_env, wait_http_ready
from tests.real_services import free_port

pytestmark = pytest.mark.timeout(120)

KEY = "serve-key-0123456789"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, AgentProcess]]:
    port = free_port()
    env = agent_env(API_KEYS=f"main:{KEY}", RUN_WORKERS="true")
    proc = AgentProcess(
        ["serve", "--port", str(port), "--read-timeout", "1.5"], env, tmp_path / "serve.log"
    )
    try:
        wait_http_ready(f"http://127.0.0.1:{port}/health", proc)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.stop()


def trickle(port: int, opening: bytes, out: list[tuple[bytes, float]]) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=8) as s:
        started = time.monotonic()
        s.sendall(opening)
        s.settimeout(0.3)
        answer = b""
        while time.monotonic() - started < 8 and not answer:
            try:
                answer = s.recv(4096)
            except TimeoutError:
                try:
                    s.sendall(b"a")
                except OSError:
                    break
        out.append((answer, time.monotonic() - started))


def test_read_deadline_cuts_slow_clients_only(served: tuple[str, AgentProcess]) -> None:
    url, _ = served
    port = int(url.rsplit(":", 1)[1])
    results: list[tuple[bytes, float]] = []
    openings = [b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "] * 5 + [
        b"POST /api/v1/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-API-Key: " + KEY.encode() + b"\r\nContent-Length: 500\r\n\r\n{"
    ] * 5
    threads = [threading.Thread(target=trickle, args=(port, o, results)) for o in openings]
    for t in threads:
        t.start()
    with httpx2.Client(base_url=url, headers={"X-API-Key": KEY}, trust_env=False) as c:
        for i in range(6):
            r = c.post("/api/v1/chat", json={"message": f"What is {i + 2}*11?"})
            assert r.status_code == 200 and str((i + 2) * 11) in r.json()["response"], r.text
            time.sleep(0.2)
    for t in threads:
        t.join(15)
    assert len(results) == 10
    for answer, seconds in results:
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer[:100]
        assert 1.0 <= seconds < 4, seconds


def test_sigterm_lets_an_in_flight_request_finish(served: tuple[str, AgentProcess]) -> None:
    url, proc = served
    reply: dict[str, Any] = {}

    def slow() -> None:
        with httpx2.Client(base_url=url, headers={"X-API-Key": KEY}, trust_env=False) as c:
            reply["r"] = c.post("/api/v1/chat", json={"message": "[[delay 2]] hello"}, timeout=30)

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.7)
    proc.proc.send_signal(signal.SIGTERM)
    t.join(30)
    assert reply["r"].status_code == 200, reply["r"].text
    proc.proc.wait(20)
    assert proc.proc.returncode in (0, -signal.SIGTERM), proc.tail()
    assert "service stopped" in proc.tail()
