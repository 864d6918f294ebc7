"""Fixtures for the container tests: the Docker engine, the built app image, a compose stack.

Without Docker these tests skip outside CI and fail under CI=true (see compose_stack.missing).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from compose_stack import (
    Docker,
    Stack,
    connect_docker,
    free_port,
    missing,
    write_secrets,
)


@pytest.fixture(scope="session")
def docker() -> Docker:
    return connect_docker(require_image=False)


@pytest.fixture(scope="session")
def app_image(docker: Docker) -> str:
    image = docker.images["AGENT_IMAGE"]
    if docker.run("image", "inspect", image, check=False).returncode != 0:
        missing(f"image {image} is not built (run .ci/provision-docker.sh)")
    return image


@pytest.fixture(scope="module")
def stack(
    docker: Docker, app_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    secrets = tmp_path_factory.mktemp("secrets")
    write_secrets(secrets)
    port = free_port()
    env = {
        **docker.images,
        "GEMINI_AGENT_SECRETS": str(secrets),
        "API_PORT": str(port),
        # A rate limit far above what the tests send.
        "RATE_LIMIT_PER_MINUTE": "10000",
    }
    project = "gatest-" + uuid.uuid4().hex[:8]
    s = Stack(docker, project, ["compose.yaml", "compose.emulator.yaml"], env, port)
    try:
        s.up()
        yield s
    finally:
        s.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
