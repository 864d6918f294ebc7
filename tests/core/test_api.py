"""The HTTP API: seed-compatible shapes, auth, limits, bad input, tasks and streams."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from tests.core.conftest import ALICE, BOB, KEYS, AppFactory
from tests.sse import parse_sse


def is_problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"]
    assert r.headers["x-request-id"]
    return body


def wait_task(
    api: TestClient, task_id: str, headers: dict[str, str], timeout: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = api.get(f"/api/v1/tasks/{task_id}", headers=headers).json()
        if body["status"] in ("completed", "failed", "cancelled"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish: {body}")


def test_seed_chat_flow_with_calculator_step_in_session(api: TestClient) -> None:
    r = api.post("/api/v1/chat", json={"message": "What is 12*34?"}, headers=ALICE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"response", "session_id", "tokens_used", "cached"} <= body.keys()
    assert "408" in body["response"] and body["tokens_used"] > 0 and body["cached"] is False
    assert body["tool_calls"][0]["name"] == "calculator"
    s = api.get(f"/api/v1/sessions/{body['session_id']}", headers=ALICE).json()
    parts = [p for m in s["messages"] for p in m["parts"]]
    assert any(p.get("function_call", {}).get("name") == "calculator" for p in parts)
    assert any(
        p.get("function_response", {}).get("response", {}).get("result") == 408 for p in parts
    )
    assert [m["role"] for m in s["messages"]] == ["user", "model", "user", "model"]


def test_session_memory_and_cache(api: TestClient) -> None:
    first = api.post(
        "/api/v1/chat", json={"message": "Hello, my name is Ada."}, headers=ALICE
    ).json()
    again = api.post(
        "/api/v1/chat",
        json={"message": "What is my name?", "session_id": first["session_id"]},
        headers=ALICE,
    ).json()
    assert "Ada" in again["response"] and again["session_id"] == first["session_id"]
    # Same conversation in a new session: served from the cache, still recorded.
    one = api.post("/api/v1/chat", json={"message": "What is 3*3?"}, headers=ALICE).json()
    two = api.post("/api/v1/chat", json={"message": "What is 3*3?"}, headers=ALICE).json()
    assert one["cached"] is False and two["cached"] is True and two["response"] == one["response"]
    assert two["tokens_used"] == 0
    turns = api.get(f"/api/v1/sessions/{two['session_id']}", headers=ALICE).json()["turn_count"]
    assert turns == 4


def test_keys_are_required_and_isolated(api: TestClient) -> None:
    is_problem(api.post("/api/v1/chat", json={"message": "hi"}), 401)
    is_problem(
        api.post("/api/v1/chat", json={"message": "hi"}, headers={"X-API-Key": "nope-nope-nope"}),
        401,
    )
    mine = api.post("/api/v1/chat", json={"message": "hi"}, headers=ALICE).json()["session_id"]
    is_problem(api.get(f"/api/v1/sessions/{mine}", headers=BOB), 404)
    is_problem(api.delete(f"/api/v1/sessions/{mine}", headers=BOB), 404)
    is_problem(
        api.post("/api/v1/chat", json={"message": "hi", "session_id": mine}, headers=BOB), 404
    )
    task = api.post("/api/v1/tasks", json={"task": "hi"}, headers=ALICE).json()["task_id"]
    is_problem(api.get(f"/api/v1/tasks/{task}", headers=BOB), 404)
    is_problem(api.post(f"/api/v1/tasks/{task}/cancel", headers=BOB), 404)
    assert api.get("/api/v1/sessions", headers=BOB).json()["sessions"] == []
    assert len(api.get("/api/v1/sessions", headers=ALICE).json()["sessions"]) == 1
    assert api.delete(f"/api/v1/sessions/{mine}", headers=ALICE).status_code == 204
    is_problem(api.get(f"/api/v1/sessions/{mine}", headers=ALICE), 404)


def test_rate_limit_per_key_with_retry_after(make_client: AppFactory) -> None:
    api = make_client(api_keys=KEYS, rate_limit_per_minute=3, rate_limit_overrides="bob=5")
    codes = [api.get("/api/v1/tools", headers=ALICE).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = api.get("/api/v1/tools", headers=ALICE)
    body = is_problem(r, 429)
    assert 1 <= int(r.headers["retry-after"]) <= 60 and "3 requests" in body["detail"]
    assert [api.get("/api/v1/tools", headers=BOB).status_code for _ in range(6)] == [200] * 5 + [
        429
    ]


def test_bad_input_is_a_problem_and_leaves_nothing(api: TestClient) -> None:
    cases = [
        ({"message": ""}, 422),
        ({"message": "x" * 32_001}, 422),
        ({"message": "hi", "max_steps": 0}, 422),
        ({"message": "hi", "max_steps": 51}, 422),
        ({"message": "hi", "max_steps": True}, 422),
        ({"message": "hi", "max_steps": "5"}, 422),
        ({"message": "hi", "max_steps": 2.5}, 422),
        ({"message": 5}, 422),
        ({"message": "hi", "tools": ["no_such_tool"]}, 422),
        ({"message": "hi", "session_id": "not-a-uuid"}, 422),
        ({"message": "hi", "extra": 1}, 422),
        ({"message": "hi", "session_id": "6f1c9b9e-1111-4c1a-9a5e-0123456789ab"}, 404),
    ]
    for body, status in cases:
        is_problem(api.post("/api/v1/chat", json=body, headers=ALICE), status)
        is_problem(api.post("/api/v1/chat/stream", json=body, headers=ALICE), status)
    malformed = api.post(
        "/api/v1/chat",
        content=b'{"message": ',
        headers={**ALICE, "content-type": "application/json"},
    )
    assert "not valid JSON" in is_problem(malformed, 422)["detail"]
    is_problem(
        api.post(
            "/api/v1/chat", content=b"message=hi", headers={**ALICE, "content-type": "text/plain"}
        ),
        415,
    )
    is_problem(
        api.post(
            "/api/v1/chat",
            content=b"\xff\xfe",
            headers={**ALICE, "content-type": "application/json"},
        ),
        422,
    )
    for body, status in [
        ({"task": "t", "max_steps": 0}, 422),
        ({"task": "t", "tools": ["nope"]}, 422),
        ({"task": ""}, 422),
    ]:
        is_problem(api.post("/api/v1/tasks", json=body, headers=ALICE), status)
    is_problem(api.get("/api/v1/tasks/6f1c9b9e-1111-4c1a-9a5e-0123456789ab", headers=ALICE), 404)
    is_problem(api.get("/api/v1/tasks/not-a-uuid", headers=ALICE), 422)
    assert api.get("/api/v1/sessions", headers=ALICE).json()["sessions"] == []


def test_body_size_limit(make_client: AppFactory) -> None:
    api = make_client(api_keys=KEYS, max_body_bytes=2048)
    body = is_problem(api.post("/api/v1/chat", json={"message": "x" * 4000}, headers=ALICE), 413)
    assert "2048" in body["detail"]
    assert api.get("/api/v1/sessions", headers=ALICE).json()["sessions"] == []


def test_method_not_allowed_lists_every_method(api: TestClient) -> None:
    r = api.put("/api/v1/sessions/6f1c9b9e-1111-4c1a-9a5e-0123456789ab", headers=ALICE)
    is_problem(r, 405)
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "DELETE"}


def test_task_lifecycle_idempotency_and_multi_tool(api: TestClient) -> None:
    req = {"task": "What is 2+3 and what time is it in Europe/Paris?", "max_steps": 5}
    r = api.post("/api/v1/tasks", json=req, headers={**ALICE, "Idempotency-Key": "k-1"})
    assert r.status_code == 200
    created = r.json()
    assert (
        created["status"] in ("queued", "running")
        and {"task_id", "status", "steps_taken"} <= created.keys()
    )
    same = api.post("/api/v1/tasks", json=req, headers={**ALICE, "Idempotency-Key": "k-1"}).json()
    assert same["task_id"] == created["task_id"]
    is_problem(
        api.post(
            "/api/v1/tasks",
            json={**req, "max_steps": 6},
            headers={**ALICE, "Idempotency-Key": "k-1"},
        ),
        409,
    )
    # Keys are per owner: bob's k-1 is a different task.
    assert (
        api.post("/api/v1/tasks", json=req, headers={**BOB, "Idempotency-Key": "k-1"}).json()[
            "task_id"
        ]
        != created["task_id"]
    )
    done = wait_task(api, created["task_id"], ALICE)
    assert done["status"] == "completed" and "5" in done["result"] and done["steps_taken"] == 2
    assert done["tokens_used"] > 0 and done["attempts"] == 1


def test_task_events_stream_to_the_end(api: TestClient) -> None:
    task = api.post("/api/v1/tasks", json={"task": "What is 12*34?"}, headers=ALICE).json()[
        "task_id"
    ]
    with api.stream("GET", f"/api/v1/tasks/{task}/events", headers=ALICE) as r:
        assert r.status_code == 200
        events = parse_sse(r.read().decode())
    kinds = [e[0] for e in events]
    assert kinds[-1] == "end" and kinds[-2] == "status" and events[-2][1]["status"] == "completed"
    turns = [e[1] for e in events if e[0] == "turn"]
    assert [t["seq"] for t in turns] == [0, 1, 2]
    assert turns[0]["parts"][0]["function_call"]["name"] == "calculator"
    # Resuming after the second turn replays only what came after it.
    with api.stream(
        "GET", f"/api/v1/tasks/{task}/events", headers={**ALICE, "Last-Event-ID": "1"}
    ) as r:
        later = [e[1]["seq"] for e in parse_sse(r.read().decode()) if e[0] == "turn"]
    assert later == [2]


def test_cancel_a_running_task_within_a_step(make_client: AppFactory) -> None:
    api = make_client(api_keys=KEYS)
    slow = (
        " ".join("[[delay 0.3]]" for _ in range(1))
        + " "
        + " ".join(f'[[call calculator {{"expression": "{i}+1"}}]]' for i in range(20))
    )
    task = api.post("/api/v1/tasks", json={"task": slow, "max_steps": 30}, headers=ALICE).json()[
        "task_id"
    ]
    time.sleep(0.5)
    r = api.post(f"/api/v1/tasks/{task}/cancel", headers=ALICE)
    assert r.status_code == 200 and r.json()["cancel_requested"] is True
    done = wait_task(api, task, ALICE)
    assert done["status"] == "cancelled" and done["steps_taken"] < 20


def test_chat_stream_events(api: TestClient) -> None:
    with api.stream(
        "POST", "/api/v1/chat/stream", json={"message": "What is 12*34?"}, headers=ALICE
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(r.read().decode())
    kinds = [e[0] for e in events]
    assert kinds == ["step", "tool_call", "tool_result", "step", "final", "done"]
    assert events[2][1]["result"]["result"] == 408
    done = events[-1][1]
    assert "408" in done["response"] and done["tokens_used"] > 0


def test_model_failures_map_to_502_503_504(make_client: AppFactory, emulator: Any) -> None:
    api = make_client(api_keys=KEYS, gemini_retry_attempts=2, gemini_timeout_ms=300)
    emulator.post("/_emulator/faults", json={"status": 503, "count": 2})
    r = api.post("/api/v1/chat", json={"message": "hello"}, headers=ALICE)
    assert is_problem(r, 503) and int(r.headers["retry-after"]) > 0
    is_problem(
        api.post("/api/v1/chat", json={"message": "hello [[malformed]]"}, headers=ALICE), 502
    )
    is_problem(api.post("/api/v1/chat", json={"message": "hello [[delay 2]]"}, headers=ALICE), 504)


def test_health_ready_metrics_and_tools(make_client: AppFactory) -> None:
    open_api = make_client()  # no keys: open, and says so
    h = open_api.get("/health").json()
    assert h["status"] == "healthy" and h["environment"] == "development"
    assert h["auth"].startswith("disabled") and any("open" in n for n in h["notices"])
    assert open_api.get("/ready").json()["status"] == "ready"
    open_api.post("/api/v1/chat", json={"message": "What is 12*34?"})
    m = open_api.get("/metrics").text
    for name in (
        "http_request_seconds",
        "agent_model_request_seconds",
        "agent_model_tokens_total",
        "agent_tool_calls_total",
        "agent_task_queue_depth",
    ):
        assert name in m
    assert 'agent_tool_calls_total{outcome="ok",tool="calculator"}' in m
    tools = {t["name"]: t for t in open_api.get("/api/v1/tools").json()["tools"]}
    assert {
        "calculator",
        "current_time",
        "remember",
        "recall",
    } <= tools.keys() and "http_get" not in tools
    assert tools["calculator"]["parameters"]["required"] == ["expression"]


def test_embedded_default_uses_the_bundled_emulator(make_client: AppFactory) -> None:
    from api.app import create_app
    from tests.core.conftest import settings_for

    s = settings_for()  # no base URL, no key
    with TestClient(create_app(s)) as api:
        h = api.get("/health").json()
        assert h["model_backend"] == "emulator" and "emulator" in h["model"]
        r = api.post("/api/v1/chat", json={"message": "What is 12*34?"}).json()
        assert "408" in r["response"] and "emulator" in r["model"]


def test_request_id_is_echoed_or_made(api: TestClient) -> None:
    assert (
        api.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    )
    made = api.get("/health", headers={"X-Request-ID": "bad id with spaces"}).headers[
        "x-request-id"
    ]
    assert made != "bad id with spaces" and len(made) == 32
