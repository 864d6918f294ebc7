"""No secret anywhere it could leak: the image's layers and config, every container's
`docker inspect`, every log line of the stack, and every error body the chaos tests received.

Runs last (conftest.py orders it), after the other tests have made the stack log and answer
errors of every kind: 401, 404, 413, 429, 502, 503, 504, /ready while Postgres was down.
"""

from __future__ import annotations

import json

import pytest

from tests.chaos.chaos_stack import ChaosStack

pytestmark = pytest.mark.timeout(300)


def found_in(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in text]


def test_no_secret_in_image_inspect_logs_or_error_bodies(chaos: ChaosStack) -> None:
    secrets = chaos.keys.secrets
    # Fresh error bodies carrying the keys where a careless service would echo them.
    near_miss = chaos.keys.main + "0"
    with_key_in_body = json.dumps({"message": 5, "api_key": chaos.keys.main}).encode()
    chaos.call("GET", "/api/v1/sessions", key=near_miss)
    chaos.call_raw("POST", "/api/v1/chat", with_key_in_body)
    chaos.call_raw("POST", "/api/v1/tasks", with_key_in_body)
    chaos.call_raw("POST", "/api/v1/chat", b'{"message": "' + chaos.keys.gemini.encode())
    assert len(chaos.bodies) >= 4, len(chaos.bodies)
    for body in chaos.bodies:
        assert not found_in(body, [*secrets, near_miss]), body

    # Every container of the stack, as `docker inspect` shows it (env, command, labels...).
    ids = chaos.compose("ps", "-q", "--all").stdout.split()
    assert len(ids) >= 8, ids
    for container in ids:
        facts = chaos.docker.run("inspect", container).stdout
        assert not found_in(facts, secrets), container

    # Every log line of every service, after all the faults above.
    logs = chaos.compose("logs", "--no-color", "--timestamps", timeout=120).stdout
    assert len(logs.splitlines()) > 200
    leaked = [line for line in logs.splitlines() if found_in(line, secrets)]
    assert not leaked, leaked[:5]

    # The image: its config and every layer, as `docker save` writes them.
    image = chaos.docker.images["AGENT_IMAGE"]
    config = chaos.docker.run("image", "inspect", image).stdout
    assert not found_in(config, secrets)
    archive = chaos.folder / "image.tar"
    chaos.docker.run("save", "-o", str(archive), image, timeout=300)
    try:
        needles = [s.encode() for s in secrets]
        longest = max(map(len, needles))
        tail = b""
        with archive.open("rb") as f:
            while chunk := f.read(1 << 20):
                window = tail + chunk
                assert not [n for n in needles if n in window]
                tail = window[-longest:]
        assert archive.stat().st_size > 10_000_000
    finally:
        archive.unlink()
