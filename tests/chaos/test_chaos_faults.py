"""Faults the service survives without losing anything, against the running containers:
model faults, a worker killed with SIGKILL mid-run, the API restarted under streaming chats,
SIGTERM to an API that runs its own workers, Redis killed, Postgres restarted.

Each test leaves the stack whole again (services started, faults cleared) for the next one.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.chaos.chaos_stack import ChaosStack, history_problems, task_prompt

pytestmark = pytest.mark.timeout(300)


def nonce() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def clean_emulator(chaos: ChaosStack) -> Iterator[None]:
    chaos.emulator("DELETE", "/_emulator/faults")
    yield
    chaos.emulator("DELETE", "/_emulator/faults")


def generate_requests(chaos: ChaosStack) -> dict[str, int]:
    stats = chaos.emulator("GET", "/_emulator/stats")["requests"]
    out: Counter[str] = Counter()
    for route, by_status in stats.items():
        if "generateContent" in route:
            for status, n in by_status.items():
                out[status] += n
    return dict(out)


def assert_problem(status: int, body: Any, expected: int) -> None:
    assert status == expected, (status, body)
    assert isinstance(body, dict) and body["status"] == expected and body["title"], body
    assert body.get("detail"), body


def test_model_faults_become_retries_or_clear_problems(
    chaos: ChaosStack, clean_emulator: None
) -> None:
    chat = "/api/v1/chat"
    # 429 twice, then fine: retried with backoff inside the call, the client sees a 200.
    chaos.emulator("DELETE", "/_emulator/stats")
    status, body = chaos.call("POST", chat, {"message": f"[[fault 429 x2]] hi {nonce()}"})
    assert status == 200, body
    assert generate_requests(chaos) == {"429": 2, "200": 1}

    # More 500s/503s than the retry budget (3 attempts): a 503 problem with Retry-After.
    for code in (500, 503):
        chaos.emulator("DELETE", "/_emulator/stats")
        chaos.emulator("POST", "/_emulator/faults", {"status": code, "count": 3})
        started = time.monotonic()
        status, body = chaos.call("POST", chat, {"message": f"hello {nonce()}"})
        assert_problem(status, body, 503)
        assert f"HTTP {code}" in body["detail"]
        assert generate_requests(chaos) == {str(code): 3}
        # Backoff between the attempts (0.2 s, then 0.4 s at least), not a tight loop.
        assert time.monotonic() - started >= 0.5
    # A bad request upstream is not retried: one call, a 502.
    chaos.emulator("DELETE", "/_emulator/stats")
    status, body = chaos.call("POST", chat, {"message": f"[[fault 400 x1]] hi {nonce()}"})
    assert_problem(status, body, 502)
    assert generate_requests(chaos) == {"400": 1}
    # A malformed body: 502. Slower than GEMINI_TIMEOUT_MS (4 s): 504.
    status, body = chaos.call("POST", chat, {"message": f"[[malformed]] hi {nonce()}"})
    assert_problem(status, body, 502)
    started = time.monotonic()
    status, body = chaos.call("POST", chat, {"message": f"[[delay 6]] hi {nonce()}"})
    assert_problem(status, body, 504)
    assert time.monotonic() - started < 20
    # The service is fine afterwards.
    status, body = chaos.call("POST", chat, {"message": f"What is 6*7? {nonce()}"})
    assert status == 200 and "42" in body["response"], body


def test_tasks_record_model_failures_and_their_attempts(
    chaos: ChaosStack, clean_emulator: None
) -> None:
    tasks = {
        # Unavailable on every attempt: retried by the queue, then failed after 3 attempts.
        "unavailable": f"[[fault 503 x1000]] hi {nonce()}",
        # A malformed answer is not worth retrying: failed on the first attempt.
        "malformed": f"[[malformed]] hi {nonce()}",
        # Rate limited twice, then fine: the retries inside one attempt absorb it.
        "limited": f"[[fault 429 x2]] What is 5*5? {nonce()}",
    }
    ids = {}
    for name, prompt in tasks.items():
        status, body = chaos.call("POST", "/api/v1/tasks", {"task": prompt})
        assert status == 200, body
        ids[name] = body["task_id"]
    done = {name: chaos.wait_task(task_id, timeout=120) for name, task_id in ids.items()}
    assert done["unavailable"]["status"] == "failed", done
    assert done["unavailable"]["attempts"] == 3, done
    assert "unavailable upstream (HTTP 503)" in done["unavailable"]["error"], done
    assert done["malformed"]["status"] == "failed" and done["malformed"]["attempts"] == 1, done
    assert "malformed" in done["malformed"]["error"], done
    assert done["limited"]["status"] == "completed" and done["limited"]["attempts"] == 1, done
    assert "25" in done["limited"]["result"]


def step_rows(chaos: ChaosStack, task_ids: list[str]) -> list[dict[str, Any]]:
    """Every persisted step of these tasks, straight from Postgres."""
    listed = ",".join(f"'{t}'" for t in task_ids)
    rows = chaos.psql(
        "SELECT coalesce(json_agg(json_build_object('task', task_id, 'seq', seq, "
        f"'content', content) ORDER BY task_id, seq), '[]') FROM task_steps "
        f"WHERE task_id IN ({listed})"
    )
    data: list[dict[str, Any]] = json.loads(rows)
    return data


def persisted(steps: list[dict[str, Any]], kind: str) -> list[str]:
    """The step tags of every function_call or function_response persisted."""
    out = []
    for step in steps:
        for part in step["content"].get("parts", []):
            if kind in part and part[kind]["name"] == "chaos_step":
                payload = part[kind]["args"] if kind == "function_call" else part[kind]["response"]
                out.append(payload["tag"])
    return out


def test_worker_sigkill_with_50_tasks_in_flight(chaos: ChaosStack) -> None:
    run = "kill-" + nonce()
    calls = 2
    ids = []
    for n in range(50):
        body = {"task": task_prompt(f"{run}-{n}", calls, 0.5), "tools": ["chaos_step"]}
        status, out = chaos.call("POST", "/api/v1/tasks", {**body, "max_steps": calls + 2})
        assert status == 200, out
        ids.append(out["task_id"])

    workers = chaos.containers("worker")
    assert len(workers) == 2
    victim = workers[0]
    victim_host = chaos.inspect(victim)["Config"]["Hostname"]
    # Wait until the victim is part-way through some tasks, then SIGKILL it.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        mine = [r for r in chaos.tool_runs() if r["tag"].startswith(run)]
        if sum(r["host"] == victim_host for r in mine) >= 3:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the worker never got going")
    chaos.docker.run("kill", "--signal", "KILL", victim)
    killed_at = time.monotonic()
    done_at_kill = set(persisted(step_rows(chaos, ids), "function_response"))
    at_kill = Counter(status for status, _ in task_states(chaos, ids).values())
    assert at_kill["running"] >= 1 and at_kill["completed"] <= 25, at_kill
    # Restart it (prod's restart policy may already have).
    time.sleep(1)
    if not chaos.inspect(victim)["State"]["Running"]:
        chaos.docker.run("start", victim)

    finished = [chaos.wait_task(t, timeout=180) for t in ids]
    elapsed = time.monotonic() - killed_at
    assert [t["status"] for t in finished] == ["completed"] * 50, [
        (t["task_id"], t["status"], t["error"]) for t in finished if t["status"] != "completed"
    ]
    steps = step_rows(chaos, ids)
    by_task: dict[str, list[dict[str, Any]]] = {}
    for step in steps:
        by_task.setdefault(step["task"], []).append(step)
    for n, task_id in enumerate(ids):
        expected = [f"{run}-{n}-{i}" for i in range(calls)]
        mine = by_task[task_id]
        # Each call asked once and answered once, in order; step numbers have no gaps.
        assert persisted(mine, "function_call") == expected, mine
        assert persisted(mine, "function_response") == expected, mine
        assert [s["seq"] for s in mine] == list(range(len(mine)))
        assert all(tag in (finished[n]["result"] or "") for tag in expected)

    runs = Counter(r["tag"] for r in chaos.tool_runs() if r["tag"].startswith(run))
    assert set(runs) == {f"{run}-{n}-{i}" for n in range(50) for i in range(calls)}
    twice = {tag for tag, count in runs.items() if count > 1}
    # No completed (persisted) step ran again; only calls in flight on the killed worker
    # (at most its 4 slots) may have, since their results were never saved.
    assert not twice & done_at_kill, twice & done_at_kill
    assert len(twice) <= 4, twice
    for tag in twice:
        first = next(r for r in chaos.tool_runs() if r["tag"] == tag)
        assert first["host"] == victim_host, (tag, first)
    resumed = [t for t in finished if t["attempts"] >= 2]
    assert resumed, "no task was taken over after the kill"
    print(
        f"\nsigkill: at the kill {dict(at_kill)}; all 50 completed {elapsed:.1f}s later; "
        f"{len(resumed)} resumed elsewhere, "
        f"{len(twice)} in-flight calls rerun"
    )


async def read_stream(c: httpx2.AsyncClient, body: dict[str, Any]) -> tuple[str, float, Any]:
    """(outcome, seconds, last data): done, error (an error event), or cut (the connection
    ended without either)."""
    started = time.monotonic()
    last: Any = None
    name = None
    try:
        async with c.stream("POST", "/api/v1/chat/stream", json=body, timeout=40) as r:
            assert r.status_code == 200, await r.aread()
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:") and name in ("done", "error"):
                    last = json.loads(line[5:].strip())
                    return name, time.monotonic() - started, last
    except httpx2.TransportError as exc:
        return "cut", time.monotonic() - started, repr(exc)
    return "cut", time.monotonic() - started, last


async def test_api_restart_during_streaming_chats(chaos: ChaosStack) -> None:
    run = "stream-" + nonce()
    # Three chats of about 9 s (four model turns of 1.5 s, three one-second tool calls) that
    # may finish within the shutdown drain, and three of about 17 s that cannot.
    shapes = [(1.5, 3)] * 3 + [(2.0, 5)] * 3
    bodies = [
        {
            "message": f"[[delay {delay}]] " + task_prompt(f"{run}-{i}", calls, 1.0),
            "tools": ["chaos_step"],
            "max_steps": calls + 2,
        }
        for i, (delay, calls) in enumerate(shapes)
    ]
    clients = [chaos.client(chaos.replicas[i % 3], key=chaos.keys.other) for i in range(6)]
    try:
        streams = [
            asyncio.create_task(read_stream(c, b)) for c, b in zip(clients, bodies, strict=True)
        ]
        await asyncio.sleep(2.5)
        restart = asyncio.create_task(
            asyncio.to_thread(chaos.compose, "restart", "--timeout", "10", "api")
        )
        outcomes = await asyncio.wait_for(asyncio.gather(*streams), timeout=60)
        await restart
    finally:
        for c in clients:
            await c.aclose()
    # Nobody hung: a clear error event or the answer, within the stop timeout.
    for outcome, seconds, last in outcomes:
        assert outcome in ("done", "error"), (outcome, last)
        assert seconds < 30, (outcome, seconds)
        if outcome == "error":
            assert last["status"] == 503 and "shutting down" in last["detail"], last
    assert [o for o, _, _ in outcomes[3:]] == ["error"] * 3, outcomes
    print(f"\nrestart under streams: {[(o, round(s, 1)) for o, s, _ in outcomes]}")

    chaos.wait_all_ready()
    # The conversations: every stored history is valid, and each one can go on.
    status, listing = chaos.call("GET", "/api/v1/sessions?limit=100", key=chaos.keys.other)
    assert status == 200, listing
    mine = []
    for s in listing["sessions"]:
        status, full = chaos.call(
            "GET", f"/api/v1/sessions/{s['session_id']}", key=chaos.keys.other
        )
        assert status == 200, full
        if run in json.dumps(full["messages"][:1]):
            mine.append(full)
    assert len(mine) == 6, [m["messages"][:1] for m in mine]
    for full in mine:
        # Whole turns only; a call cut off at the very end (its result never saved) is the
        # one thing allowed, and the next exchange leaves it out of what the model sees.
        assert history_problems(full["messages"]) == [], full["messages"]
        status, more = chaos.call(
            "POST",
            "/api/v1/chat",
            {"message": f"What is 19*3? {nonce()}", "session_id": full["session_id"]},
            key=chaos.keys.other,
        )
        assert status == 200 and "57" in more["response"], more
        status, after = chaos.call(
            "GET", f"/api/v1/sessions/{full['session_id']}", key=chaos.keys.other
        )
        assert after["messages"][: len(full["messages"])] == full["messages"]
        assert after["messages"][-1]["role"] == "model"


def task_states(chaos: ChaosStack, ids: list[str]) -> dict[str, tuple[str, str]]:
    listed = ",".join(f"'{t}'" for t in ids)
    rows = chaos.psql(
        "SELECT json_object_agg(id, json_build_array(status, coalesce(lease_owner, ''))) "
        f"FROM tasks WHERE id IN ({listed})"
    )
    return {k: (v[0], v[1]) for k, v in json.loads(rows).items()}


def test_sigterm_to_an_api_with_in_process_workers(chaos: ChaosStack) -> None:
    """In-flight requests finish; the tasks its own workers hold go back to the queue at
    once (its lease is 120 s), and the other workers finish them."""
    run = "term-" + nonce()
    chaos.compose("stop", "--timeout", "10", "worker")
    inproc = chaos.inproc_url
    try:
        chaos.compose("--profile", "inproc", "up", "-d", "--wait", "--no-deps", "api-inproc")
        (container,) = chaos.containers("api-inproc")
        ids = []
        for n in range(4):
            body = {"task": task_prompt(f"{run}-{n}", 3, 1.5), "tools": ["chaos_step"]}
            status, out = chaos.call("POST", "/api/v1/tasks", body, base=inproc)
            assert status == 200, out
            ids.append(out["task_id"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = task_states(chaos, ids)
            if all(s == "running" for s, _ in states.values()) and len(
                [r for r in chaos.tool_runs() if r["tag"].startswith(run)]
            ):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the in-process workers never took all four: {states}")

        result: dict[str, Any] = {}

        def slow_chat() -> None:
            result["reply"] = chaos.call(
                "POST", "/api/v1/chat", {"message": f"[[delay 3]] hi {nonce()}"}, base=inproc
            )

        chat = threading.Thread(target=slow_chat)
        chat.start()
        time.sleep(1.0)
        chaos.docker.run("kill", "--signal", "TERM", container)
        signalled = time.monotonic()
        released_after = None
        while time.monotonic() - signalled < 15:
            if all(s == "queued" for s, _ in task_states(chaos, ids).values()):
                released_after = time.monotonic() - signalled
                break
            time.sleep(0.1)
        assert released_after is not None, task_states(chaos, ids)
        assert released_after < 5, released_after
        chat.join(30)
        status, body = result["reply"]
        assert status == 200, body  # the in-flight request finished
        stop_deadline = time.monotonic() + 25
        while chaos.inspect(container)["State"]["Running"] and time.monotonic() < stop_deadline:
            time.sleep(0.2)
        state = chaos.inspect(container)["State"]
        assert not state["Running"] and state["ExitCode"] in (0, 143), state
    finally:
        chaos.compose("start", "worker")
        chaos.compose("--profile", "inproc", "rm", "-sf", "api-inproc", check=False)

    finished = [chaos.wait_task(t, timeout=120) for t in ids]
    assert [t["status"] for t in finished] == ["completed"] * 4, finished
    assert all(t["attempts"] == 2 for t in finished), finished
    steps = step_rows(chaos, ids)
    responses = persisted(steps, "function_response")
    assert sorted(responses) == sorted(f"{run}-{n}-{i}" for n in range(4) for i in range(3))


def containers_started(chaos: ChaosStack) -> dict[str, str]:
    out = {}
    for service in ("api", "worker"):
        for c in chaos.containers(service):
            out[c] = chaos.inspect(c)["State"]["StartedAt"]
    return out


def ready_states(chaos: ChaosStack) -> list[tuple[int, Any]]:
    out = []
    for url in chaos.replicas:
        try:
            out.append(chaos.call("GET", "/ready", base=url, timeout=10))
        except OSError as exc:
            out.append((0, repr(exc)))
    return out


def test_redis_killed_and_restarted(chaos: ChaosStack) -> None:
    before = containers_started(chaos)
    run = "redis-" + nonce()
    chaos.compose("kill", "redis")
    try:
        deadline = time.monotonic() + 20
        states: list[tuple[int, Any]] = []
        while time.monotonic() < deadline:
            states = ready_states(chaos)
            if all(s == 200 and b["checks"]["redis"]["status"] == "degraded" for s, b in states):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(states)
        # Degraded, not down: chats answer and tasks are taken and finished (workers poll).
        for url in chaos.replicas:
            status, body = chaos.call(
                "POST", "/api/v1/chat", {"message": f"What is 4*4? {nonce()}"}, base=url
            )
            assert status == 200 and "16" in body["response"], body
        body = {"task": task_prompt(run, 2, 0.2), "tools": ["chaos_step"]}
        status, task = chaos.call("POST", "/api/v1/tasks", body)
        assert status == 200, task
        assert chaos.wait_task(task["task_id"], timeout=60)["status"] == "completed"
    finally:
        chaos.compose("start", "redis")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = ready_states(chaos)
        if all(s == 200 and b["checks"]["redis"]["status"] == "ok" for s, b in states):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(states)
    status, task = chaos.call("POST", "/api/v1/tasks", {"task": f"What is 8*8? {nonce()}"})
    assert status == 200, task
    assert chaos.wait_task(task["task_id"], timeout=60)["status"] == "completed"
    assert containers_started(chaos) == before  # recovered without a restart


def test_postgres_restarted(chaos: ChaosStack) -> None:
    before = containers_started(chaos)
    run = "pg-" + nonce()
    ids = []
    for n in range(5):
        body = {"task": task_prompt(f"{run}-{n}", 2, 1.0), "tools": ["chaos_step"]}
        status, out = chaos.call("POST", "/api/v1/tasks", body)
        assert status == 200, out
        ids.append(out["task_id"])
    time.sleep(1.5)
    chaos.compose("stop", "--timeout", "10", "postgres")
    try:
        deadline = time.monotonic() + 30
        states: list[tuple[int, Any]] = []
        while time.monotonic() < deadline:
            states = ready_states(chaos)
            if all(s == 503 for s, _ in states):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(states)
        for _, body in states:
            assert body["checks"]["postgres"]["status"] == "down", body
            assert body["title"] and body["detail"], body
        status, body = chaos.call("POST", "/api/v1/chat", {"message": f"hi {nonce()}"})
        assert_problem(status, body, 503)
        status, body = chaos.call("POST", "/api/v1/tasks", {"task": f"hi {nonce()}"})
        assert_problem(status, body, 503)
    finally:
        chaos.compose("start", "postgres")
    chaos.wait_all_ready(timeout=90)
    finished = [chaos.wait_task(t, timeout=120) for t in ids]
    assert [t["status"] for t in finished] == ["completed"] * 5, finished
    responses = persisted(step_rows(chaos, ids), "function_response")
    assert sorted(responses) == sorted(f"{run}-{n}-{i}" for n in range(5) for i in range(2))
    status, body = chaos.call("POST", "/api/v1/chat", {"message": f"What is 9*9? {nonce()}"})
    assert status == 200 and "81" in body["response"], body
    assert containers_started(chaos) == before  # recovered without a restart
