"""Fixtures for the contract fuzzing: the Docker engine and images (for the stack run).

Reuses tests/container/compose_stack.py: without Docker the stack run skips outside CI and
fails under CI=true.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.container.compose_stack import Docker, docker_binary, missing, read_images_env


@pytest.fixture(scope="session")
def fuzz_docker() -> Docker:
    binary = docker_binary()
    try:
        info = subprocess.run(
            [binary, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        missing(f"docker info failed: {exc}")
    if info.returncode != 0:
        missing(f"no Docker engine answers (run .ci/provision-docker.sh): {info.stderr.strip()}")
    compose = subprocess.run(
        [binary, "compose", "version"], capture_output=True, text=True, check=False
    )
    if compose.returncode != 0:
        missing("`docker compose` (v2 plugin) is not installed (run .ci/provision-docker.sh)")
    docker = Docker(binary, read_images_env())
    image = docker.images["AGENT_IMAGE"]
    if docker.run("image", "inspect", image, check=False).returncode != 0:
        missing(f"image {image} is not built (run .ci/provision-docker.sh)")
    return docker
