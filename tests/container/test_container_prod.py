"""The production overlay actually running: two API and two worker replicas on read-only root
filesystems without capabilities, ENVIRONMENT=production, the emulator standing in for Gemini.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from compose_stack import API_KEY, Docker, Stack, free_port, http, write_secrets

pytestmark = [pytest.mark.container, pytest.mark.timeout(300)]

# Production needs a Gemini key: this test-only overlay gives the app services back the
# gemini_api_key secret the keyless emulator overlay removes (the emulator ignores keys).
KEYED = """
services:
  api:
    secrets: !override [gemini_api_key, api_keys, database_url]
  worker:
    secrets: !override [gemini_api_key, api_keys, database_url]
  migrate:
    secrets: !override [gemini_api_key, api_keys, database_url]
"""


@pytest.fixture(scope="module")
def prod(
    docker: Docker, app_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("prod")
    write_secrets(folder / "secrets")
    overlay = folder / "keyed.yaml"
    overlay.write_text(KEYED)
    port = free_port(2)
    env = {
        **docker.images,
        "GEMINI_AGENT_SECRETS": str(folder / "secrets"),
        "API_PORT": str(port),
        "API_PORT_LAST": str(port + 1),
        "RATE_LIMIT_PER_MINUTE": "10000",
    }
    files = ["compose.yaml", "compose.emulator.yaml", "compose.prod.yaml", str(overlay)]
    stack = Stack(docker, "gatest-prod-" + uuid.uuid4().hex[:8], files, env, port)
    try:
        stack.up()
        yield stack
    finally:
        stack.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False)


def replica_urls(prod: Stack) -> list[str]:
    return [f"http://127.0.0.1:{prod.port + i}" for i in range(2)]


def test_two_replicas_each_on_its_loopback_port(prod: Stack) -> None:
    names = prod.compose("ps", "--format", "{{.Name}}").stdout.split()
    assert sum("-api-" in n for n in names) == 2, names
    assert sum("-worker-" in n for n in names) == 2, names
    for url in replica_urls(prod):
        status, health = http("GET", url + "/health")
        assert status == 200, (url, health)
        assert health["environment"] == "production"
        assert health["database"] == "postgres"


def test_replicas_serve_chat_and_workers_run_tasks(prod: Stack) -> None:
    for url in replica_urls(prod):
        status, body = http(
            "POST",
            url + "/api/v1/chat",
            {"message": "What is 12*34?"},
            {"X-API-Key": API_KEY},
        )
        assert status == 200, body
        assert "408" in body["response"]
    status, body = prod.api("POST", "/api/v1/tasks", {"task": "What is 6*7?", "max_steps": 5})
    assert status == 200, body
    task = prod.wait_task(body["task_id"], timeout=60)
    assert task["status"] == "completed", task
    assert "42" in task["result"]


@pytest.mark.parametrize("service", ["api", "worker"])
def test_hardened_runtime(prod: Stack, service: str) -> None:
    probe = (
        "touch /probe 2>/dev/null && echo root-writable || echo root-read-only; "
        "touch /tmp/probe && echo tmp-writable; "
        "grep -E '^(CapEff|NoNewPrivs):' /proc/1/status; id -u"
    )
    out = prod.compose("exec", "-T", service, "sh", "-c", probe).stdout
    assert "root-read-only" in out, out
    assert "tmp-writable" in out, out
    assert "CapEff:\t0000000000000000" in out, out
    assert "NoNewPrivs:\t1" in out, out
    assert out.strip().endswith("65532"), out
