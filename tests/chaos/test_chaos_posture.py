"""The production posture from compose (read-only root, no capabilities, no privilege gain,
non-root, ENVIRONMENT=production) running the full smoke flow on the chaos stack."""

from __future__ import annotations

import time

import pytest

from tests.chaos.chaos_stack import ChaosStack
from tests.sse import parse_sse

pytestmark = pytest.mark.timeout(300)


def test_every_app_container_runs_hardened(chaos: ChaosStack) -> None:
    app = {s: chaos.containers(s) for s in ("api", "worker", "emulator")}
    assert len(app["api"]) == 3 and len(app["worker"]) == 2, app
    for service in ("api", "worker"):
        for container in app[service]:
            facts = chaos.inspect(container)
            host = facts["HostConfig"]
            assert host["ReadonlyRootfs"] is True, (service, host)
            assert host["CapDrop"] == ["ALL"], (service, host["CapDrop"])
            assert "no-new-privileges:true" in host["SecurityOpt"], service
            assert facts["Config"]["User"] == "65532:65532", service
            env = dict(e.partition("=")[::2] for e in facts["Config"]["Env"])
            assert env["ENVIRONMENT"] == "production", service
            status = facts["State"]
            assert status["Running"] and status["Health"]["Status"] == "healthy", status
    for url in chaos.replicas:
        status, health = chaos.call("GET", "/health", base=url)
        assert status == 200, health
        assert health["environment"] == "production"
        assert health["database"] == "postgres" and health["cache"] == "redis"
        assert health["model_backend"] == "gemini"  # keyed, pointed at the emulator


async def test_full_smoke_flow_in_production_posture(chaos: ChaosStack) -> None:
    """Chat with a tool, session memory, streaming, sessions list/get/delete, a task followed
    over SSE to its end, cancel, tools, ready and metrics: every replica, hardened."""
    for i, url in enumerate(chaos.replicas):
        status, body = chaos.call(
            "POST", "/api/v1/chat", {"message": f"What is 12*3{i}?"}, base=url
        )
        assert status == 200, body
        assert str(12 * (30 + i)) in body["response"]
        assert body["tool_calls"][0]["name"] == "calculator"

    status, first = chaos.call("POST", "/api/v1/chat", {"message": "Hello, my name is Ada."})
    assert status == 200, first
    sid = first["session_id"]
    status, again = chaos.call(
        "POST",
        "/api/v1/chat",
        {"message": "What is my name?", "session_id": sid},
        base=chaos.replicas[2],
    )
    assert status == 200 and "Ada" in again["response"], again

    async with chaos.client(chaos.replicas[1]) as c:
        r = await c.post("/api/v1/chat/stream", json={"message": "What is 7*8?"})
        assert r.status_code == 200, r.text
        events = parse_sse(r.text)
        names = [n for n, _ in events]
        assert names[0] == "step" and names[-1] == "done", names
        assert "tool_call" in names and "tool_result" in names
        assert "56" in events[-1][1]["response"]

        listed = (await c.get("/api/v1/sessions")).json()["sessions"]
        assert sid in [s["session_id"] for s in listed]
        session = (await c.get(f"/api/v1/sessions/{sid}")).json()
        assert [m["role"] for m in session["messages"]] == ["user", "model", "user", "model"]

        r = await c.post(
            "/api/v1/tasks",
            json={"task": "What is 6*7?", "max_steps": 4},
            headers={"Idempotency-Key": f"smoke-{time.time_ns()}"},
        )
        assert r.status_code == 200, r.text
        task_id = r.json()["task_id"]
        r = await c.get(f"/api/v1/tasks/{task_id}/events", timeout=60)
        names = [n for n, _ in parse_sse(r.text)]
        assert names[-1] == "end", names
        task = (await c.get(f"/api/v1/tasks/{task_id}")).json()
        assert task["status"] == "completed" and "42" in task["result"], task

        slow = {"task": "[[delay 3]] take your time", "max_steps": 2}
        task_id = (await c.post("/api/v1/tasks", json=slow)).json()["task_id"]
        r = await c.post(f"/api/v1/tasks/{task_id}/cancel")
        assert r.status_code in (200, 202), r.text
        assert chaos.wait_task(task_id, timeout=60)["status"] == "cancelled"

        tools = (await c.get("/api/v1/tools")).json()
        names = {t["name"] for t in tools["tools"]}
        assert {"calculator", "chaos_step", "http_get"} <= names, names

        assert (await c.delete(f"/api/v1/sessions/{sid}")).status_code == 204
        assert (await c.get(f"/api/v1/sessions/{sid}")).status_code == 404
        assert (await c.get("/ready")).status_code == 200
        metrics = (await c.get("/metrics")).text
        assert "http_request_seconds" in metrics
