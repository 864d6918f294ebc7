"""Task throughput (enqueue -> completed, one tool step) and queue claim latency, followed
through the workers' own status signals on Redis and checked against Postgres at the end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from agent.stores.postgres import PostgresTaskQueue, open_database
from agent.stores.redis import SIGNAL_PREFIX
from agent.worker import task_channel
from benchmarks.load import closed_loop, percentile
from benchmarks.overhead import api_client
from benchmarks.processes import CpuMeter

FINAL = {"completed", "failed", "cancelled"}


def task_prompt(i: int) -> str:
    # One arithmetic expression with the calculator declared: one tool step, then the answer.
    return f"What is {i % 97 + 2}*{i % 89 + 3}?"


class StatusFollower:
    """Every task's first `running` and its final status, timestamped on arrival."""

    def __init__(self, redis_url: str) -> None:
        self._client = aioredis.Redis.from_url(redis_url)
        self._pubsub = self._client.pubsub()
        self.running: dict[str, float] = {}
        self.ended: dict[str, tuple[float, str]] = {}
        self._job: asyncio.Task[None] | None = None
        self._ended = asyncio.Event()

    async def changed(self) -> None:
        """Returns once another task has ended."""
        self._ended.clear()
        await self._ended.wait()

    async def __aenter__(self) -> StatusFollower:
        await self._pubsub.psubscribe(SIGNAL_PREFIX + task_channel("*"))
        confirmed = await self._pubsub.get_message(timeout=5)
        assert confirmed is not None and confirmed["type"] == "psubscribe", confirmed
        self._job = asyncio.create_task(self._listen())
        return self

    async def _listen(self) -> None:
        while True:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None or message["type"] != "pmessage":
                continue
            now = time.time()
            task_id = message["channel"].decode().rsplit(":", 1)[1]
            data = json.loads(message["data"])
            if data.get("type") != "status":
                continue
            if data["status"] == "running":
                self.running.setdefault(task_id, now)
            elif data["status"] in FINAL:
                self.ended[task_id] = (now, data["status"])
                self._ended.set()

    async def __aexit__(self, *exc: object) -> None:
        if self._job is not None:
            self._job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._job
        await self._pubsub.aclose()
        await self._client.aclose()


async def run_tasks(
    api_url: str,
    redis_url: str,
    database_url: str,
    *,
    total: int,
    concurrency: int,
    rate: float | None = None,
    meter: CpuMeter | None = None,
    wait_seconds: float = 180,
) -> dict[str, Any]:
    """Enqueue `total` tasks through the API (as fast as possible, or paced at `rate`/s) and
    wait until every one has ended."""
    created: dict[str, float] = {}
    cpu_before = meter.snapshot() if meter else {}
    async with StatusFollower(redis_url) as follower, api_client(api_url, concurrency) as client:
        started = time.time()

        async def send(i: int) -> bool:
            if rate:
                await asyncio.sleep(max(0.0, started + i / rate - time.time()))
            r = await client.post(
                "/api/v1/tasks",
                json={"task": task_prompt(i), "tools": ["calculator"], "max_steps": 4},
            )
            if r.status_code != 200:
                return False
            body = r.json()
            created[body["task_id"]] = datetime.fromisoformat(body["created_at"]).timestamp()
            return True

        enqueue = await closed_loop(send, total=total, concurrency=concurrency)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_seconds):
                while not created.keys() <= follower.ended.keys():
                    await follower.changed()
        cpu = CpuMeter.delta(cpu_before, meter.snapshot()) if meter else {}
        ended = {k: v for k, v in follower.ended.items() if k in created}
        running = {k: v for k, v in follower.running.items() if k in created}

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT status, count(*) AS n FROM tasks WHERE id = ANY($1::text[]) GROUP BY status",
            list(created),
        )
    finally:
        await conn.close()
    statuses = {r["status"]: r["n"] for r in rows}
    completed = statuses.get("completed", 0)
    last_end = max((t for t, _ in ended.values()), default=time.time())
    elapsed = max(last_end - started, 1e-9)
    pickup = [(running[k] - created[k]) * 1000 for k in running]
    e2e = [(ended[k][0] - created[k]) * 1000 for k in ended]
    return {
        "tasks": total,
        "enqueue_errors": enqueue.errors,
        "statuses": statuses,
        "seconds": round(elapsed, 3),
        "tasks_per_s": round(completed / elapsed, 1),
        "enqueue_rps": round(enqueue.rps, 1),
        "pickup_p50_ms": round(percentile(pickup, 50), 1),
        "pickup_p99_ms": round(percentile(pickup, 99), 1),
        "end_to_end_p50_ms": round(percentile(e2e, 50), 1),
        "end_to_end_p99_ms": round(percentile(e2e, 99), 1),
        "cpu_ms_per_task": {k: round(v * 1000 / total, 2) for k, v in cpu.items() if v > 0},
    }


async def claim_latency(database_url: str, count: int) -> dict[str, Any]:
    """The claim query itself (`TaskQueue.claim`), timed through the adapter with no worker
    running: `count` queued tasks, claimed and finished one by one."""
    db = await open_database(database_url, 1, 2)
    try:
        queue = PostgresTaskQueue(db)
        for i in range(count):
            await queue.enqueue("bench-claim", task_prompt(i), None, 1, max_attempts=1)
        latencies = []
        for _ in range(count):
            t0 = time.perf_counter()
            task = await queue.claim("bench-claimer", 30)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert task is not None
            await queue.finish(task.id, "bench-claimer", "completed", result="done")
    finally:
        await db.close()
    return {
        "claims": count,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


async def fill_tasks(database_url: str, rows: int) -> int:
    """Top the tasks table up to `rows` finished tasks (two steps each); returns the count."""
    conn = await asyncpg.connect(database_url)
    try:
        have: int = await conn.fetchval("SELECT count(*) FROM tasks")
        add = max(0, rows - have)
        if add:
            async with conn.transaction():
                await conn.execute(
                    "CREATE TEMP TABLE filler ON COMMIT DROP AS"
                    " SELECT gen_random_uuid()::text AS id, g FROM generate_series(1, $1) g",
                    add,
                )
                await conn.execute(
                    "INSERT INTO tasks (id, owner, prompt, tools, max_steps, status, created_at,"
                    " updated_at, result, steps_taken, attempts, max_attempts, next_step)"
                    " SELECT id, 'filler-' || (g % 50), 'What is ' || g || '*2?',"
                    " ARRAY['calculator'], 4, 'completed',"
                    " clock_timestamp() - make_interval(secs => g), clock_timestamp(),"
                    " 'done', 2, 1, 3, 2 FROM filler"
                )
                await conn.execute(
                    "INSERT INTO task_steps (task_id, seq, owner, content, tokens, created_at)"
                    " SELECT f.id, s, 'filler-' || (f.g % 50),"
                    " json_build_object('role', CASE WHEN s = 0 THEN 'model' ELSE 'user' END,"
                    "   'parts', json_build_array(json_build_object('text', 'step ' || s))),"
                    " 5, clock_timestamp() FROM filler f, generate_series(0, 1) s"
                )
            await conn.execute("ANALYZE tasks")
            await conn.execute("ANALYZE task_steps")
        total: int = await conn.fetchval("SELECT count(*) FROM tasks")
        return total
    finally:
        await conn.close()


def wait_for_log(path: Path, needle: str, wait_seconds: float = 30) -> None:
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if needle in path.read_text(errors="replace"):
                return
        time.sleep(0.05)
    raise TimeoutError(f"{needle!r} not in {path} after {wait_seconds}s")
