"""Two API processes and two workers on one Postgres and one Redis, as in production:
state written through one replica is read through the other, a task is followed over SSE on
the replica that did not create it, and the rate limit is shared. Then the same with Redis
killed mid-run (degraded: per-replica limits, polling) and Postgres restarted mid-run (503
while down, both replicas recover on their own)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from tests.emulator_server import running_emulator
from tests.integration.processes import AgentProcess, agent_env, wait_http_ready
from tests.real_services import PostgresServer, RedisServer, ServerFactory, free_port

pytestmark = pytest.mark.timeout(300)

MAIN_KEY = "main-key-0123456789"
LIMITS = {"limited1": 6, "limited2": 4}
KEYS = {name: f"{name}-key-0123456789" for name in LIMITS}


@dataclass
class Stack:
    postgres: PostgresServer
    redis: RedisServer
    apis: list[str]
    processes: list[AgentProcess]

    def logs(self) -> str:
        return "\n".join(f"--- {p.log.name}\n{p.tail()}" for p in self.processes)


@pytest.fixture(scope="module")
def stack(
    server_factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    postgres = server_factory.postgres()  # this module restarts it: not the shared one
    redis = server_factory.redis()
    logs = tmp_path_factory.mktemp("replicas")
    with running_emulator() as emulator_url:
        keys = ",".join([f"main:{MAIN_KEY}", *(f"{n}:{k}" for n, k in KEYS.items())])
        env = agent_env(
            DATABASE_URL=postgres.dsn(),
            REDIS_URL=redis.url,
            GEMINI_BASE_URL=emulator_url,
            GEMINI_RETRY_ATTEMPTS="2",
            API_KEYS=keys,
            RATE_LIMIT_PER_MINUTE="100000",
            RATE_LIMIT_OVERRIDES=",".join(f"{n}={limit}" for n, limit in LIMITS.items()),
            RUN_WORKERS="false",
            TOOL_MODULES="tests.integration.slow_tools",
            TASK_LEASE_SECONDS="2",
            SWEEP_INTERVAL_SECONDS="0.5",
            WORKER_CONCURRENCY="2",
        )
        processes: list[AgentProcess] = []
        apis = []
        try:
            for name in ("a", "b"):
                port = free_port()
                api = AgentProcess(["serve", "--port", str(port)], env, logs / f"api-{name}.log")
                processes.append(api)
                wait_http_ready(f"http://127.0.0.1:{port}/health", api)
                apis.append(f"http://127.0.0.1:{port}")
            for name in ("1", "2"):
                processes.append(AgentProcess(["worker"], env, logs / f"worker-{name}.log"))
            yield Stack(postgres, redis, apis, processes)
        finally:
            for p in processes:
                p.stop()


def client(base: str, key: str = MAIN_KEY) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        base_url=base, headers={"X-API-Key": key}, timeout=30, trust_env=False
    )


def slow_task(tag: str, calls: int, seconds: float = 1.0) -> dict[str, Any]:
    directives = "".join(
        f'[[call slow_step {{"tag": "{tag}-{i}", "seconds": {seconds}}}]]' for i in range(calls)
    )
    return {"task": f"Do it. {directives}", "tools": ["slow_step"], "max_steps": calls + 2}


async def sse_events(c: httpx2.AsyncClient, url: str, last_id: int | None) -> AsyncIterator[dict]:
    headers = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
    async with c.stream("GET", url, headers=headers, timeout=60) as r:
        if r.status_code != 200:
            await r.aread()
            raise httpx2.HTTPStatusError(f"{r.status_code}", request=r.request, response=r)
        event: dict[str, Any] = {}
        async for line in r.aiter_lines():
            if not line:
                if "data" in event:
                    yield event
                event = {}
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                event["data"] = event.get("data", "") + value
            elif name in ("event", "id"):
                event[name] = value


async def follow(base: str, task_id: str, on_turn: Any = None) -> tuple[list[int], dict, int]:
    """Follow a task's events to the end, reconnecting with Last-Event-ID when the stream
    breaks; returns the turn sequence numbers seen, the final status, and reconnects."""
    seen: list[int] = []
    reconnects = 0
    async with client(base) as c:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                async for ev in sse_events(
                    c, f"/api/v1/tasks/{task_id}/events", seen[-1] if seen else None
                ):
                    if ev.get("event") == "turn":
                        seen.append(int(ev["id"]))
                        if on_turn is not None:
                            await on_turn(len(seen))
                    elif ev.get("event") == "end":
                        final = (await c.get(f"/api/v1/tasks/{task_id}")).json()
                        return seen, final, reconnects
            except httpx2.HTTPError:
                pass
            reconnects += 1
            await asyncio.sleep(0.3)
    raise AssertionError(f"task {task_id} never ended; saw turns {seen}")


async def hits_until_limited(stack: Stack, key_name: str, count: int) -> list[tuple[str, int]]:
    """`count` requests with one key, alternating replicas; (replica, status) for each."""
    out = []
    clients = [client(base, KEYS[key_name]) for base in stack.apis]
    try:
        for i in range(count):
            r = await clients[i % 2].get("/api/v1/sessions")
            out.append(("ab"[i % 2], r.status_code))
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) >= 1
    finally:
        for c in clients:
            await c.aclose()
    return out


def same_minute(room: float = 5) -> None:
    """The limit window is the clock minute: start a burst where it cannot straddle two."""
    into = time.time() % 60
    if into > 60 - room:
        time.sleep(60 - into + 0.2)


async def test_session_written_on_a_is_read_on_b(stack: Stack) -> None:
    a, b = stack.apis
    async with client(a) as ca, client(b) as cb:
        r = await ca.post("/api/v1/chat", json={"message": "What is 12*34?"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert "408" in body["response"]
        detail = await cb.get(f"/api/v1/sessions/{body['session_id']}")
        assert detail.status_code == 200, detail.text
        messages = detail.json()["messages"]
        assert messages[0]["role"] == "user"
        assert messages[0]["parts"][0]["text"] == "What is 12*34?"
        assert "408" in json.dumps(messages[-1])
        r = await cb.post(
            "/api/v1/chat", json={"message": "And 2+3?", "session_id": body["session_id"]}
        )
        assert r.status_code == 200 and "5" in r.json()["response"]
        # Turns appended through B are seen through A, in order after A's.
        again = (await ca.get(f"/api/v1/sessions/{body['session_id']}")).json()
        assert again["messages"][: len(messages)] == messages
        assert len(again["messages"]) > len(messages)
        assert again["messages"][len(messages)]["parts"][0]["text"] == "And 2+3?"
        assert [m["seq"] for m in again["messages"]] == list(range(len(again["messages"])))
        listed = (await ca.get("/api/v1/sessions")).json()["sessions"]
        mine = [s for s in listed if s["session_id"] == body["session_id"]]
        assert mine and mine[0]["turn_count"] == len(again["messages"])


async def test_task_created_on_a_followed_on_b(stack: Stack) -> None:
    a, b = stack.apis
    async with client(a) as ca:
        r = await ca.post("/api/v1/tasks", json=slow_task("ab", 2, 0.5))
        assert r.status_code == 200, r.text
        task_id = r.json()["task_id"]
    seen, final, _ = await follow(b, task_id)
    assert final["status"] == "completed", (final, stack.logs())
    assert seen == list(range(len(seen))) and len(seen) == 5  # call, answer, call, answer, text
    assert "ab-0" in final["result"] and "ab-1" in final["result"]


async def test_rate_limit_is_shared_by_the_replicas(stack: Stack) -> None:
    same_minute()
    got = await hits_until_limited(stack, "limited1", LIMITS["limited1"] + 2)
    assert [s for _, s in got] == [200] * LIMITS["limited1"] + [429, 429], got


async def test_redis_killed_mid_run(stack: Stack) -> None:
    a, b = stack.apis
    try:
        async with client(a) as ca:
            r = await ca.post("/api/v1/tasks", json=slow_task("nored", 3, 0.7))
            assert r.status_code == 200, r.text
            task_id = r.json()["task_id"]

        async def kill_redis_after_first_turn(n: int) -> None:
            if n == 1:
                await asyncio.to_thread(stack.redis.kill)

        seen, final, _ = await follow(b, task_id, kill_redis_after_first_turn)
        assert stack.redis.proc is None  # it really was down while the task finished
        assert final["status"] == "completed", (final, stack.logs())
        assert seen == list(range(7))

        # Degraded: each replica enforces the limit alone, so the burst gets twice as far.
        same_minute()
        got = await hits_until_limited(stack, "limited2", 2 * LIMITS["limited2"] + 2)
        assert [s for _, s in got] == [200] * (2 * LIMITS["limited2"]) + [429, 429], got
        async with client(a) as ca, client(b) as cb:
            r = await ca.post("/api/v1/chat", json={"message": "What is 7*6?"})
            assert r.status_code == 200 and "42" in r.json()["response"]
            # Redis is optional: not ready-blocking, reported as degraded.
            ready = await cb.get("/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["redis"]["status"] == "degraded"
    finally:
        if stack.redis.proc is None:
            await asyncio.to_thread(stack.redis.start)
    # Redis back: the shared path is used again without restarting anything.
    async with client(b) as cb:
        deadline = time.monotonic() + 15
        while (await cb.get("/ready")).status_code != 200:
            assert time.monotonic() < deadline, stack.logs()
            await asyncio.sleep(0.3)


async def test_postgres_restarted_mid_run(stack: Stack) -> None:
    a, b = stack.apis
    async with client(a) as ca:
        r = await ca.post("/api/v1/tasks", json=slow_task("pgrestart", 3, 1.0))
        assert r.status_code == 200, r.text
        task_id = r.json()["task_id"]
    during: list[httpx2.Response] = []

    async def restart_after_first_turn(n: int) -> None:
        if n != 1:
            return
        await asyncio.to_thread(stack.postgres.stop)
        async with client(a) as ca:
            during.append(await ca.get(f"/api/v1/tasks/{task_id}"))
            during.append(await ca.post("/api/v1/chat", json={"message": "hello"}))
        await asyncio.sleep(1.5)
        await asyncio.to_thread(stack.postgres.start)

    try:
        seen, final, reconnects = await follow(b, task_id, restart_after_first_turn)
    finally:
        if stack.postgres.proc is None:
            stack.postgres.start()
    assert [r.status_code for r in during] == [503, 503], [r.text for r in during]
    assert all(int(r.headers["Retry-After"]) >= 1 for r in during)
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in during)
    assert final["status"] == "completed", (final, stack.logs())
    assert reconnects >= 1  # the stream broke with the database and resumed
    assert seen == list(range(7)), seen  # every turn once, in order, across the reconnects
    assert all(f"pgrestart-{i}" in final["result"] for i in range(3))
    # Both replicas answer again without a restart.
    for base in (a, b):
        async with client(base) as c:
            assert (await c.get(f"/api/v1/tasks/{task_id}")).status_code == 200
            assert (await c.get("/ready")).status_code == 200
