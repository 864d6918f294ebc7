"""The whole compose stack (keyless, emulator overlay) on a project name and port of its own.

The tests run in file order against one stack; the last ones restart a worker mid-task and
take the stack down (volumes kept) and up again.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from compose_stack import Stack, http

pytestmark = [pytest.mark.container, pytest.mark.timeout(300)]

# Four model turns of two seconds each (three calculator calls, then the answer).
SLOW_TASK = (
    "[[delay 2]] "
    '[[call calculator {"expression": "11+1"}]] '
    '[[call calculator {"expression": "22+2"}]] '
    '[[call calculator {"expression": "33+3"}]] '
    "add these up"
)


def services(stack: Stack) -> dict[str, dict[str, Any]]:
    out = stack.compose("ps", "--all", "--format", "json").stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    if len(rows) == 1 and isinstance(rows[0], list):  # older compose: one JSON array
        rows = rows[0]
    return {row["Service"]: row for row in rows}


def test_stack_is_up_and_healthy(stack: Stack) -> None:
    rows = services(stack)
    for name in ("api", "worker", "emulator", "redis", "postgres"):
        assert rows[name]["State"] == "running", rows[name]
        assert rows[name]["Health"] == "healthy", rows[name]
    assert rows["migrate"]["State"] == "exited"
    assert rows["migrate"]["ExitCode"] == 0
    # Only the API is published, on loopback only.
    for name, row in rows.items():
        for port in row.get("Publishers") or []:
            if port.get("PublishedPort"):
                assert name == "api", row
                assert port["URL"] in ("127.0.0.1", ""), row
    status, health = http("GET", stack.url + "/health")
    assert status == 200
    assert health["status"] == "healthy"
    assert health["database"] == "postgres"
    assert health["cache"] == "redis"
    status, ready = http("GET", stack.url + "/ready")
    assert status == 200, ready


def test_api_requires_a_key(stack: Stack) -> None:
    status, body = http("POST", stack.url + "/api/v1/chat", {"message": "hi"})
    assert status == 401, body


def test_chat_flow(stack: Stack) -> None:
    status, body = stack.api("POST", "/api/v1/chat", {"message": "What is 12*34?"})
    assert status == 200, body
    assert "408" in body["response"]
    assert body["tokens_used"] > 0
    assert body["cached"] is False
    session_id = body["session_id"]

    status, session = stack.api("GET", f"/api/v1/sessions/{session_id}")
    assert status == 200, session
    assert "What is 12*34?" in json.dumps(session)


def test_task_flow(stack: Stack) -> None:
    status, body = stack.api("POST", "/api/v1/tasks", {"task": "What is 7*6?", "max_steps": 5})
    assert status == 200, body
    assert body["status"] in ("queued", "running", "completed")
    task = stack.wait_task(body["task_id"], timeout=60)
    assert task["status"] == "completed", task
    assert "42" in task["result"]
    assert 1 <= task["steps_taken"] <= 5


def test_task_survives_worker_restart(stack: Stack) -> None:
    status, body = stack.api("POST", "/api/v1/tasks", {"task": SLOW_TASK, "max_steps": 6})
    assert status == 200, body
    task_id = body["task_id"]

    # Let the worker claim it and get into its steps, then restart the worker under it.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        _, current = stack.api("GET", f"/api/v1/tasks/{task_id}")
        if current["status"] == "running":
            break
        time.sleep(0.2)
    assert current["status"] == "running", current
    time.sleep(2.5)
    stack.compose("restart", "--timeout", "10", "worker")

    task = stack.wait_task(task_id, timeout=120)
    assert task["status"] == "completed", task
    assert all(n in task["result"] for n in ("12", "24", "36")), task["result"]
    # It was interrupted and picked up again, not finished before the restart.
    assert task["attempts"] >= 2, task
    assert task["steps_taken"] == 4, task


def test_down_and_up_keeps_sessions_and_tasks(stack: Stack) -> None:
    status, chat = stack.api("POST", "/api/v1/chat", {"message": "What is 9*9?"})
    assert status == 200, chat
    session_id = chat["session_id"]
    status, body = stack.api("POST", "/api/v1/tasks", {"task": "What is 5*5?", "max_steps": 5})
    assert status == 200, body
    task = stack.wait_task(body["task_id"], timeout=60)
    assert task["status"] == "completed", task

    stack.compose("down", "--timeout", "10")  # no -v: the named volumes stay
    assert not services(stack)
    stack.up()

    status, session = stack.api("GET", f"/api/v1/sessions/{session_id}")
    assert status == 200, session
    assert "What is 9*9?" in json.dumps(session)
    status, again = stack.api("GET", f"/api/v1/tasks/{task['task_id']}")
    assert status == 200, again
    assert again["status"] == "completed"
    assert again["result"] == task["result"]

    # The conversation continues on the restored history.
    status, follow = stack.api(
        "POST", "/api/v1/chat", {"message": "What is 3*4?", "session_id": session_id}
    )
    assert status == 200, follow
    assert follow["session_id"] == session_id
    assert "12" in follow["response"]
