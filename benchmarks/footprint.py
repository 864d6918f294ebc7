"""The Docker image: total size, what the project adds above its base, and the time from
`docker run` to /ready 200. Uses the image .ci/provision-docker.sh built (AGENT_IMAGE)."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
import uuid
from typing import Any

from benchmarks.processes import free_port, http_status


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    docker = shutil.which("docker") or "docker"
    return subprocess.run(  # noqa: S603 (the local Docker CLI)
        [docker, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def docker_unavailable(image: str) -> str | None:
    """Why the Docker figures cannot be taken, or None when they can."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        if _docker("info", timeout=15).returncode != 0:
            return "no Docker engine answering `docker info`"
    except subprocess.TimeoutExpired:
        return "`docker info` timed out"
    if _docker("image", "inspect", image).returncode != 0:
        return f"image {image} not built (run `make setup`, which runs .ci/provision-docker.sh)"
    return None


def image_size_mb(image: str) -> float:
    out = _docker("image", "inspect", "--format", "{{.Size}}", image)
    out.check_returncode()
    return int(out.stdout.strip()) / 1_000_000


def largest_packages(image: str, count: int = 8) -> list[dict[str, Any]]:
    script = "du -sk /app/.venv/lib/python3*/site-packages/* 2>/dev/null | sort -rn | head -" + str(
        count
    )
    out = _docker("run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", script)
    found = []
    for line in out.stdout.splitlines():
        kb, _, path = line.partition("\t")
        if kb.isdigit():
            found.append({"package": os.path.basename(path), "mb": round(int(kb) / 1024, 1)})
    return found


def time_to_ready(image: str, timeout: float = 60) -> float:
    port = free_port()
    name = f"ga-bench-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    run = _docker("run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:8080", image)
    try:
        run.check_returncode()
        while time.monotonic() - started < timeout:
            if http_status(f"http://127.0.0.1:{port}/ready", 1.0) == 200:
                return time.monotonic() - started
            time.sleep(0.02)
        raise TimeoutError(f"{image} not ready after {timeout}s")
    finally:
        _docker("rm", "-f", name)


def docker_footprint(image: str, base: str | None, runs: int) -> dict[str, Any]:
    total = image_size_mb(image)
    base_mb = (
        image_size_mb(base) if base and _docker("image", "inspect", base).returncode == 0 else None
    )
    starts = [time_to_ready(image) for _ in range(runs)]
    return {
        "image": image,
        "base_image": base,
        "image_mb": round(total, 1),
        "base_mb": None if base_mb is None else round(base_mb, 1),
        "app_layers_mb": None if base_mb is None else round(total - base_mb, 1),
        "largest_packages": largest_packages(image),
        "start_to_ready_s": round(statistics.median(starts), 2),
        "start_to_ready_runs_s": [round(s, 2) for s in starts],
    }
