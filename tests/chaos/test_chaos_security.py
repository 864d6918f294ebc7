"""No one gets in where they don't belong, against the running containers: keys on every
route, no existence leak across keys, http_get never reaches anything internal, and a tool not
enabled for a request is never called."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx2
import pytest

from tests.chaos.chaos_stack import ChaosStack

pytestmark = pytest.mark.timeout(300)

# A valid body for each write route, so a 401 cannot be a validation error in disguise.
BODIES = {
    "/api/v1/chat": {"message": "hi"},
    "/api/v1/chat/stream": {"message": "hi"},
    "/api/v1/tasks": {"task": "hi"},
}


def api_operations(chaos: ChaosStack) -> list[tuple[str, str]]:
    status, spec = chaos.call("GET", "/openapi.json")
    assert status == 200, spec
    ops = [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        if path.startswith("/api/")
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(ops) >= 9, ops
    return ops


def fill(path: str, value: str) -> str:
    out = path
    while "{" in out:
        start = out.index("{")
        out = out[:start] + value + out[out.index("}", start) + 1 :]
    return out


def is_problem(r: httpx2.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


def test_every_api_route_without_a_valid_key_is_401(chaos: ChaosStack) -> None:
    ops = api_operations(chaos)
    wrong = chaos.keys.main[:-1] + ("x" if chaos.keys.main[-1] != "x" else "y")
    with httpx2.Client(timeout=30, trust_env=False) as c:
        for replica in chaos.replicas:
            for method, path in ops:
                url = replica + fill(path, str(uuid.uuid4()))
                for headers in ({}, {"X-API-Key": wrong}, {"X-API-Key": ""}):
                    r = c.request(method, url, json=BODIES.get(path), headers=headers)
                    body = is_problem(r, 401)
                    assert r.headers["www-authenticate"].startswith("APIKey")
                    chaos.bodies.append(r.text)
                    assert wrong not in r.text and chaos.keys.main not in r.text, body


def test_another_keys_ids_are_404_exactly_like_unknown_ids(chaos: ChaosStack) -> None:
    status, chat = chaos.call("POST", "/api/v1/chat", {"message": "What is 2*21?"})
    assert status == 200, chat
    status, task = chaos.call("POST", "/api/v1/tasks", {"task": "What is 3*3?"})
    assert status == 200, task
    ids = {"session_id": chat["session_id"], "task_id": task["task_id"]}
    assert chaos.wait_task(task["task_id"])["status"] == "completed"

    def strip(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k not in ("request_id", "instance")}

    ops = [(m, p) for m, p in api_operations(chaos) if "{" in p]
    assert len(ops) >= 5, ops
    other = {"X-API-Key": chaos.keys.other}
    with httpx2.Client(base_url=chaos.replicas[1], timeout=30, trust_env=False) as c:
        for method, path in ops:
            name = path[path.index("{") + 1 : path.index("}")]
            theirs = c.request(method, fill(path, ids[name]), headers=other, timeout=30)
            unknown = c.request(method, fill(path, str(uuid.uuid4())), headers=other)
            assert strip(is_problem(theirs, 404)) == strip(is_problem(unknown, 404)), path
            chaos.bodies += [theirs.text, unknown.text]
        # Continuing someone else's session is a 404 too, and listings show only one's own.
        r = c.post(
            "/api/v1/chat", json={"message": "hi", "session_id": ids["session_id"]}, headers=other
        )
        is_problem(r, 404)
        listed = c.get("/api/v1/sessions", headers=other).json()["sessions"]
        assert ids["session_id"] not in json.dumps(listed)
    # The owner still sees both (they were real ids all along, and untouched).
    status, session = chaos.call("GET", f"/api/v1/sessions/{ids['session_id']}")
    assert status == 200 and session["turn_count"] == 4, session
    status, again = chaos.call("GET", f"/api/v1/tasks/{ids['task_id']}")
    assert status == 200 and again["status"] == "completed", again


INTERNAL_URLS = [
    "http://postgres:5432/",  # compose service names resolve to private addresses
    "http://redis:6379/",
    "http://emulator:8765/healthz",
    "http://api:8080/health",
    "http://localhost:8080/health",
    "http://127.0.0.1:8080/health",
    "http://[::1]:8080/health",
    "http://169.254.169.254/latest/meta-data/",
]


def test_http_get_refuses_every_internal_target_from_inside_the_stack(chaos: ChaosStack) -> None:
    """Every host here is on the allow-list (compose.chaos.yaml): only the address check
    stands between the tool and the network inside the containers."""
    calls = " ".join(f'[[call http_get {{"url": "{u}"}}]]' for u in INTERNAL_URLS)
    status, body = chaos.call(
        "POST",
        "/api/v1/chat",
        {"message": f"[[parallel]] {calls} fetch these", "tools": ["http_get"], "max_steps": 3},
        timeout=120,
    )
    assert status == 200, body
    results = {c["args"]["url"]: c["result"] for c in body["tool_calls"]}
    assert set(results) == set(INTERNAL_URLS), results
    for url, result in results.items():
        assert "error" in result and "status" not in result, (url, result)
        assert "non-public" in result["error"], (url, result)


def test_a_tool_not_enabled_for_the_request_is_never_called(chaos: ChaosStack) -> None:
    tag = "undeclared-" + uuid.uuid4().hex[:8]
    ask = f'[[call chaos_step {{"tag": "{tag}-asked", "seconds": 0}}]] please'
    status, body = chaos.call(
        "POST", "/api/v1/chat", {"message": ask, "tools": ["current_time"]}, timeout=60
    )
    assert status == 200, body
    assert body["tool_calls"] == [], body
    # A model that calls it anyway (the emulator's force_call) gets a refusal, not a run.
    forced = f'[[force_call chaos_step {{"tag": "{tag}-forced", "seconds": 0}}]] please'
    status, body = chaos.call(
        "POST", "/api/v1/chat", {"message": forced, "tools": ["current_time"]}, timeout=60
    )
    assert status == 200, body
    (call,) = body["tool_calls"]
    assert call["name"] == "chaos_step"
    assert "not available for this request" in call["result"]["error"], call
    # Tasks too: a worker refuses it in the same way.
    status, task = chaos.call(
        "POST", "/api/v1/tasks", {"task": forced.replace("forced", "task"), "tools": ["calculator"]}
    )
    assert status == 200, task
    assert chaos.wait_task(task["task_id"])["status"] == "completed"
    # And indeed the tool never ran anywhere in the stack.
    assert not [r for r in chaos.tool_runs() if r["tag"].startswith(tag)]
    # The control: enabled, it runs.
    status, body = chaos.call(
        "POST",
        "/api/v1/chat",
        {"message": ask.replace("asked", "enabled"), "tools": ["chaos_step"]},
        timeout=60,
    )
    assert status == 200 and body["tool_calls"][0]["result"]["tag"] == f"{tag}-enabled", body
    assert [r["tag"] for r in chaos.tool_runs() if r["tag"].startswith(tag)] == [f"{tag}-enabled"]
