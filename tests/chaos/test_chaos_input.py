"""Bad input is cut off with a 4xx and does not hurt other clients: oversized bodies, deeply
nested JSON, and slow-loris clients (headers or body trickled byte by byte; bounded: 40
connections for at most 10 s) against one API replica while others use it."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx2
import pytest

from tests.chaos.chaos_stack import ChaosStack

pytestmark = pytest.mark.timeout(180)

# compose.chaos.yaml starts the API with `--read-timeout 3`.
READ_TIMEOUT = 3.0


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


def read_reply(url: str, request: bytes, timeout: float = 20) -> bytes:
    """Send raw bytes; everything the server answers until it closes (or `timeout`)."""
    with socket.create_connection(address(url), timeout=timeout) as s:
        s.sendall(request)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
                if b"\r\n\r\n" in out and len(out) > 4096:
                    break
        except TimeoutError:
            pass
        return out


def problem_of(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"application/problem+json" in head.lower(), head
    return status, json.loads(body)


def test_oversized_bodies_are_413_before_they_are_read(chaos: ChaosStack) -> None:
    url = chaos.replicas[0]
    key = chaos.keys.main.encode()
    # Declared too large: answered from the headers alone, nothing of the body sent.
    started = time.monotonic()
    raw = read_reply(
        url,
        b"POST /api/v1/chat HTTP/1.1\r\nHost: x\r\nX-API-Key: " + key + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n",
    )
    status, body = problem_of(raw)
    assert status == 413 and "1048576" in str(body["detail"]), body
    assert time.monotonic() - started < READ_TIMEOUT
    # Chunked, no length: cut off once the limit is passed.
    chunk = b"x" * 65536

    async def stream() -> AsyncIterator[bytes]:
        yield b'{"message": "'
        for _ in range(40):  # 2.5 MB
            yield chunk

    async def send() -> httpx2.Response:
        async with chaos.client(url) as c:
            return await c.post(
                "/api/v1/chat", content=stream(), headers={"Content-Type": "application/json"}
            )

    try:
        r = asyncio.run(send())
        assert r.status_code == 413, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    except httpx2.TransportError:
        pass  # the server may close before the client has written it all: also cut off
    status, _ = chaos.call("GET", "/api/v1/tools", base=url)
    assert status == 200


@pytest.mark.parametrize("depth", [2_000, 100_000, 300_000])
def test_deeply_nested_json_is_a_4xx(chaos: ChaosStack, depth: int) -> None:
    for path, field in (("/api/v1/chat", "message"), ("/api/v1/tasks", "task")):
        nested = "[" * depth + "]" * depth
        body = f'{{"{field}": "hi", "context": {nested}}}'.encode()
        status, out = chaos.call_raw("POST", path, body, base=chaos.replicas[0])
        assert status in (400, 413, 422), (status, out)
        assert isinstance(out, dict) and out["status"] == status, out
    status, health = chaos.call("GET", "/health", base=chaos.replicas[0])
    assert status == 200, health


async def slow_client(url: str, opening: bytes, budget: float) -> tuple[bytes, float]:
    """Send `opening`, then one more byte every 0.5 s (never finishing) until the server
    answers or `budget` seconds pass; returns (answer, seconds)."""
    host, port = address(url)
    reader, writer = await asyncio.open_connection(host, port)
    started = time.monotonic()
    writer.write(opening)

    async def trickle() -> None:
        while True:
            await asyncio.sleep(0.5)
            writer.write(b"a")
            await writer.drain()

    dripping = asyncio.create_task(trickle())
    try:
        answer = await asyncio.wait_for(reader.read(4096), timeout=budget)
    except TimeoutError:
        answer = b""
    finally:
        dripping.cancel()
        writer.close()
    return answer, time.monotonic() - started


async def test_slow_clients_are_cut_off_without_hurting_others(chaos: ChaosStack) -> None:
    url = chaos.replicas[0]
    key = chaos.keys.main.encode()
    slow_headers = b"GET /api/v1/tools HTTP/1.1\r\nHost: x\r\nX-Slow: "
    slow_body = (
        b"POST /api/v1/chat HTTP/1.1\r\nHost: x\r\nX-API-Key: " + key + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
        b'{"message": "'
    )
    slow = [slow_client(url, slow_headers, 10) for _ in range(20)]
    slow += [slow_client(url, slow_body, 10) for _ in range(20)]
    slow_jobs = asyncio.gather(*slow)

    latencies = []
    async with chaos.client(url) as c:
        await asyncio.sleep(0.5)  # the slow connections are all open and dripping
        for i in range(24):
            started = time.monotonic()
            if i % 4 == 0:
                r = await c.post("/api/v1/chat", json={"message": f"What is {i}*7? {time.time()}"})
                assert r.status_code == 200 and str(i * 7) in r.json()["response"], r.text
            else:
                r = await c.get("/api/v1/tools")
                assert r.status_code == 200, r.text
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.1)
    results = await slow_jobs
    for answer, seconds in results:
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"application/problem+json" in answer
        assert READ_TIMEOUT - 0.5 <= seconds < READ_TIMEOUT + 3, seconds
    assert max(latencies) < 3, latencies
    print(
        f"\nslow clients: 40 cut off with 408 after {min(s for _, s in results):.1f}-"
        f"{max(s for _, s in results):.1f}s; others' worst latency {max(latencies):.2f}s"
    )
