"""The Docker engine, the images and a compose project of the tests' own, driven by the CLI.

Images and engine come from .ci/provision-docker.sh, which also writes .ci/images.env (the
base/service images this machine uses: official ones, or local stand-ins without a registry).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGES_ENV = ROOT / ".ci" / "images.env"
VENV_BIN = Path(sys.executable).parent
API_KEY = "ci-" + uuid.uuid4().hex[:16]
# Written into the stack's secret files; the image must never contain it.
TEST_SECRET = "gemini-agent-test-secret-" + uuid.uuid4().hex


def missing(reason: str) -> None:
    """A missing prerequisite: a failure in CI, a skip with the reason elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"container prerequisite missing: {reason}")
    pytest.skip(reason)


def tool(name: str) -> str:
    """A tool from the project's dev venv (hadolint, container-structure-test, ...)."""
    path = VENV_BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        missing(f"{name} not found (run `uv sync`)")
    return str(found)


def docker_binary() -> str:
    # Debian's client drives the engine's built-in BuildKit; any client works for the rest.
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and Path(candidate).exists():
            return candidate
    missing("no docker client (run .ci/provision-docker.sh)")
    raise AssertionError("unreachable")


def read_images_env() -> dict[str, str]:
    images = {
        "PYTHON_IMAGE": "python:3.12-slim-bookworm",
        "REDIS_IMAGE": "redis:7-alpine",
        "POSTGRES_IMAGE": "postgres:16-alpine",
        "AGENT_IMAGE": "gemini-agent:latest",
    }
    if IMAGES_ENV.exists():
        for line in IMAGES_ENV.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                images[name.strip()] = value.strip()
    for name in images:
        images[name] = os.environ.get(name, images[name])
    return images


def free_port(count: int = 1) -> int:
    """A loopback port that is free, and so are the `count - 1` ports after it."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        try:
            for extra in range(1, count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + extra))
        except OSError:
            continue
        return port
    raise AssertionError(f"no run of {count} free loopback ports")


@dataclass
class Docker:
    binary: str
    images: dict[str, str]

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 300,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "DOCKER_BUILDKIT": "1", **(env or {})},
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
            )
        return result

    def inspect(self, image: str) -> dict[str, Any]:
        data: list[dict[str, Any]] = json.loads(self.run("image", "inspect", image).stdout)
        return data[0]


def http(
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, Any]:
    """One JSON request to a published 127.0.0.1 port; returns (status, parsed body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    # No proxies: the target is always a loopback port.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return status, raw.decode(errors="replace")


@dataclass
class Stack:
    """One compose project of our own (own name, own port, own volumes)."""

    docker: Docker
    project: str
    files: Sequence[str]
    env: dict[str, str]
    port: int
    logs_on_failure: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def compose(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        file_args = [arg for f in self.files for arg in ("-f", str(ROOT / f))]
        return self.docker.run(
            "compose",
            "--project-directory",
            str(ROOT),
            "-p",
            self.project,
            *file_args,
            *args,
            check=check,
            timeout=timeout,
            env=self.env,
        )

    def up(self) -> None:
        result = self.compose("up", "-d", "--wait", "--no-build", check=False, timeout=300)
        if result.returncode != 0:
            logs = self.compose("logs", "--no-color", "--tail", "60", check=False).stdout
            raise AssertionError(
                f"compose up failed ({result.returncode}):\n{result.stderr[-3000:]}\n"
                f"logs:\n{logs[-6000:]}"
            )

    def api(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 60
    ) -> tuple[int, Any]:
        return http(method, self.url + path, body, {"X-API-Key": API_KEY}, timeout)

    def wait_task(self, task_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            status, last = self.api("GET", f"/api/v1/tasks/{task_id}")
            assert status == 200, (status, last)
            if last["status"] in ("completed", "failed", "cancelled"):
                return dict(last)
            time.sleep(0.5)
        raise AssertionError(f"task {task_id} not finished after {timeout}s: {last}")


def write_secrets(folder: Path) -> None:
    password = uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        # Keyless stack: the emulator overlay drops this secret; it is here so the base file
        # set is complete, and it carries the marker the image must never contain.
        "gemini_api_key": TEST_SECRET,
        "api_keys": f"ci:{API_KEY}",
        "postgres_password": password,
        "database_url": f"postgresql://agent:{password}@postgres:5432/agent",
    }
    for name, content in files.items():
        path = folder / name
        path.write_text(content)
        # Read by the containers' unprivileged users through the bind mount.
        path.chmod(0o644)


def connect_docker(*, require_image: bool = False) -> Docker:
    """A Docker engine with the compose plugin (and the app image, when asked), or
    `missing()`: a failure under CI=true, a skip elsewhere."""
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
    docker = Docker(binary, read_images_env())
    if docker.run("compose", "version", check=False).returncode != 0:
        missing("`docker compose` (v2 plugin) is not installed (run .ci/provision-docker.sh)")
    if require_image:
        image = docker.images["AGENT_IMAGE"]
        if docker.run("image", "inspect", image, check=False).returncode != 0:
            missing(f"image {image} is not built (run .ci/provision-docker.sh)")
    return docker
