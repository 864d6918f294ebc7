"""A worker killed with SIGKILL mid-task: its tasks come back after the lease expires and a
second worker finishes them from the last persisted step, repeating no completed step."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.stores.postgres import Database, PostgresTaskQueue, open_database
from tests.emulator_server import running_emulator
from tests.integration.processes import AgentProcess, agent_env
from tests.real_services import PostgresServer, RedisServer

pytestmark = pytest.mark.timeout(240)

CALLS_PER_TASK = 3
TASKS = 4


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    with running_emulator() as url:
        yield url


def prompt(task_no: int) -> str:
    calls = "".join(
        f'[[call slow_step {{"tag": "t{task_no}-{i}", "seconds": 1.0}}]]'
        for i in range(CALLS_PER_TASK)
    )
    return f"Run the steps. {calls}"


def responses(steps: list[Any]) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        for part in step.content.get("parts", []):
            if "function_response" in part:
                out.append(part["function_response"]["response"])
    return out


def calls(steps: list[Any]) -> list[str]:
    return [
        part["function_call"]["args"]["tag"]
        for step in steps
        for part in step.content.get("parts", [])
        if "function_call" in part
    ]


async def wait_for(predicate: Any, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_killed_worker_tasks_finish_elsewhere_without_repeating_steps(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    emulator_url: str,
    tmp_path: Path,
) -> None:
    dsn = postgres_server.create_database("crash")
    db: Database = await open_database(dsn, 1, 4)
    queue = PostgresTaskQueue(db)
    tool_log = tmp_path / "slow_tool.log"
    env = agent_env(
        DATABASE_URL=dsn,
        REDIS_URL=redis_server.url,
        GEMINI_BASE_URL=emulator_url,
        GEMINI_RETRY_ATTEMPTS="2",
        TOOL_MODULES="tests.integration.slow_tools",
        TASK_LEASE_SECONDS="2",
        SWEEP_INTERVAL_SECONDS="0.5",
        WORKER_CONCURRENCY="2",
        SLOW_TOOL_LOG=str(tool_log),
    )
    workers: list[AgentProcess] = []
    try:
        ids = []
        for n in range(TASKS):
            task, _ = await queue.enqueue(
                "crash-test", prompt(n), ["slow_step"], 10, max_attempts=3
            )
            ids.append(task.id)

        first = AgentProcess(["worker"], env, tmp_path / "worker-1.log")
        workers.append(first)

        async def mid_task() -> bool:
            # A running task with some, not all, of its calls answered.
            for task_id in ids:
                t = await queue.get("crash-test", task_id)
                done = len(responses(await queue.steps(task_id)))
                if t is not None and t.status == "running" and 0 < done < CALLS_PER_TASK:
                    return True
            return False

        await wait_for(mid_task, 60, "a task part-way through its calls")
        first.kill()
        killed_pid = first.proc.pid
        before = {task_id: len(responses(await queue.steps(task_id))) for task_id in ids}
        assert any(0 < n < CALLS_PER_TASK for n in before.values())

        second = AgentProcess(["worker"], env, tmp_path / "worker-2.log")
        workers.append(second)

        async def all_terminal() -> bool:
            tasks = [await queue.get("crash-test", i) for i in ids]
            return all(t is not None and t.status in {"completed", "failed"} for t in tasks)

        try:
            await wait_for(all_terminal, 120, "every task to finish")
        except AssertionError:
            raise AssertionError(f"worker 2 log:\n{second.tail()}") from None

        taken_over = 0
        for n, task_id in enumerate(ids):
            t = await queue.get("crash-test", task_id)
            assert t is not None
            assert t.status == "completed", (t.status, t.error)
            expected = [f"t{n}-{i}" for i in range(CALLS_PER_TASK)]
            steps = await queue.steps(task_id)
            # Each call asked once and answered once, in order: nothing lost, nothing redone.
            assert calls(steps) == expected
            answered = responses(steps)
            assert [r["tag"] for r in answered] == expected
            assert [s.seq for s in steps] == list(range(len(steps)))
            assert all(tag in (t.result or "") for tag in expected), t.result
            pids = {r["pid"] for r in answered}
            if killed_pid in pids and second.proc.pid in pids:
                taken_over += 1
                assert t.attempts == 2
        # At least one task was finished by the second worker after the first one had
        # completed part of it: the resume-from-last-step path really ran.
        assert taken_over >= 1

        # At-least-once: only a call in flight when the worker died may run again (its
        # result was never persisted), so at most one rerun per busy worker slot.
        ran = Counter(json.loads(line)["tag"] for line in tool_log.read_text().splitlines())
        assert set(ran) == {f"t{n}-{i}" for n in range(TASKS) for i in range(CALLS_PER_TASK)}
        assert sum(count - 1 for count in ran.values()) <= 2, ran
    finally:
        for w in workers:
            w.stop()
        await db.close()
