"""The Dockerfile, the compose files and the built app image, without the full stack."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from compose_stack import ROOT, Docker, free_port, http, tool, write_secrets

pytestmark = pytest.mark.container

STANDIN_DOCKERFILES = sorted((ROOT / ".ci" / "standins").glob("*.Dockerfile"))
IMAGE_VARS = ("AGENT_IMAGE", "PYTHON_IMAGE", "REDIS_IMAGE", "POSTGRES_IMAGE")


def test_hadolint_clean() -> None:
    files = [str(ROOT / "Dockerfile"), *map(str, STANDIN_DOCKERFILES)]
    assert len(files) == 4
    result = subprocess.run(
        [tool("hadolint"), "--no-color", *files], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def compose_config(files: list[str], tmp_path: Path, **env: str) -> dict[str, Any]:
    """`docker compose config` of the given files, from a clean image environment."""
    secrets = tmp_path / "secrets"
    write_secrets(secrets)
    base_env = {k: v for k, v in os.environ.items() if k not in IMAGE_VARS and k != "API_PORT"}
    args = [tool("docker-compose"), "--project-directory", str(ROOT)]
    for f in files:
        args += ["-f", str(ROOT / f)]
    result = subprocess.run(
        [*args, "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={**base_env, "GEMINI_AGENT_SECRETS": str(secrets), **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def published(service: dict[str, Any]) -> list[dict[str, Any]]:
    return list(service.get("ports", []))


@pytest.mark.parametrize(
    "files",
    [
        ["compose.yaml"],
        ["compose.yaml", "compose.emulator.yaml"],
        ["compose.yaml", "compose.prod.yaml"],
        ["compose.yaml", "compose.ci.yaml"],
    ],
    ids=["base", "emulator", "prod", "ci"],
)
def test_compose_config_valid(files: list[str], tmp_path: Path) -> None:
    config = compose_config(files, tmp_path)
    services = config["services"]
    for f in files:
        assert not re.search(r"^version:", (ROOT / f).read_text(), re.M), f
    # Only the API is published, and only on loopback.
    for name, service in services.items():
        for port in published(service):
            assert name == "api", (name, port)
            assert port["host_ip"] == "127.0.0.1", port
    assert {"api", "worker", "migrate", "redis", "postgres"} <= set(services)
    for name in ("api", "worker"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["command"] == ["agent", "migrate"]
    assert services["worker"]["command"] == ["agent", "worker"]
    assert services["api"]["environment"]["RUN_WORKERS"] == "false"
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "--appendonly" in services["redis"]["command"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert any(v["target"] == "/var/lib/postgresql/data" for v in services["postgres"]["volumes"])


def test_compose_images_default_to_official_and_follow_variables(tmp_path: Path) -> None:
    defaults = compose_config(["compose.yaml", "compose.emulator.yaml"], tmp_path)["services"]
    assert defaults["api"]["image"] == "gemini-agent:latest"
    assert defaults["worker"]["image"] == defaults["emulator"]["image"] == "gemini-agent:latest"
    assert defaults["redis"]["image"] == "redis:7-alpine"
    assert defaults["postgres"]["image"] == "postgres:16-alpine"
    assert defaults["api"]["build"]["args"]["PYTHON_IMAGE"] == "python:3.12-slim-bookworm"

    chosen = compose_config(
        ["compose.yaml", "compose.emulator.yaml"],
        tmp_path,
        AGENT_IMAGE="example/agent:1",
        REDIS_IMAGE="example/redis:1",
        POSTGRES_IMAGE="example/postgres:1",
        PYTHON_IMAGE="example/python:1",
        API_PORT="18123",
    )["services"]
    assert {chosen[s]["image"] for s in ("api", "worker", "migrate", "emulator")} == {
        "example/agent:1"
    }
    assert chosen["redis"]["image"] == "example/redis:1"
    assert chosen["postgres"]["image"] == "example/postgres:1"
    assert chosen["api"]["build"]["args"]["PYTHON_IMAGE"] == "example/python:1"
    assert published(chosen["api"])[0]["published"] == "18123"


def test_compose_secrets_are_files(tmp_path: Path) -> None:
    config = compose_config(["compose.yaml"], tmp_path)
    assert set(config["secrets"]) == {
        "gemini_api_key",
        "api_keys",
        "database_url",
        "postgres_password",
    }
    for secret in config["secrets"].values():
        assert Path(secret["file"]).is_file()
    for name in ("api", "worker", "migrate"):
        sources = {s["source"] for s in config["services"][name]["secrets"]}
        assert sources == {"gemini_api_key", "api_keys", "database_url"}
        # Secrets arrive as files only, never as environment values.
        env = config["services"][name]["environment"]
        assert not {"GEMINI_API_KEY", "API_KEYS", "DATABASE_URL"} & set(env)


def test_compose_emulator_overlay_is_keyless(tmp_path: Path) -> None:
    services = compose_config(["compose.yaml", "compose.emulator.yaml"], tmp_path)["services"]
    assert services["emulator"]["command"] == [
        "agent",
        "emulator",
        "--host",
        "0.0.0.0",
        "--port",
        "8765",
    ]
    for name in ("api", "worker"):
        assert services[name]["environment"]["GEMINI_BASE_URL"] == "http://emulator:8765"
        assert services[name]["depends_on"]["emulator"]["condition"] == "service_healthy"
        assert "gemini_api_key" not in {s["source"] for s in services[name]["secrets"]}


def test_compose_prod_posture(tmp_path: Path) -> None:
    services = compose_config(["compose.yaml", "compose.prod.yaml"], tmp_path)["services"]
    for name in ("api", "worker", "migrate"):
        s = services[name]
        assert s["read_only"] is True, name
        assert s["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in s["security_opt"], name
        assert any(t.startswith("/tmp") for t in s["tmpfs"]), name
        assert s["environment"]["ENVIRONMENT"] == "production", name
        limits = s["deploy"]["resources"]["limits"]
        assert limits["memory"] and limits["cpus"], name
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["worker"]["deploy"]["replicas"] == 2
    # One loopback port per API replica.
    (port,) = published(services["api"])
    assert port["host_ip"] == "127.0.0.1"
    assert port["published"] == "8080-8081"
    for name in ("redis", "postgres"):
        assert "no-new-privileges:true" in services[name]["security_opt"], name
        assert services[name]["deploy"]["resources"]["limits"]["memory"], name


def test_structure(app_image: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            tool("container-structure-test"),
            "test",
            "--image",
            app_image,
            "--config",
            str(ROOT / "tests" / "container" / "structure.yaml"),
            "--output",
            "json",
            "--test-report",
            str(tmp_path / "report.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads((tmp_path / "report.json").read_text())
    failed = [r for r in report["Results"] if not r["Pass"]]
    assert result.returncode == 0 and not failed, (failed, result.stderr[-2000:])
    assert report["Pass"] >= 12


def test_healthcheck_and_contract(docker: Docker, app_image: str) -> None:
    config = docker.inspect(app_image)["Config"]
    second = 1_000_000_000
    assert config["Healthcheck"] == {
        "Test": ["CMD", "agent", "healthcheck"],
        "Interval": 10 * second,
        "Timeout": 3 * second,
        "StartPeriod": 10 * second,
        "Retries": 3,
    }
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["/usr/bin/tini", "--"]
    assert config["Cmd"] == ["agent", "serve"]
    assert list(config["ExposedPorts"]) == ["8080/tcp"]


def test_production_refuses_to_start_without_its_secrets(docker: Docker, app_image: str) -> None:
    result = docker.run(
        "run", "--rm", "-e", "ENVIRONMENT=production", app_image, "agent", "serve", check=False
    )
    assert result.returncode == 2, result
    for name in ("GEMINI_API_KEY", "API_KEYS", "DATABASE_URL"):
        assert name in result.stderr, result.stderr


def test_build_context_keeps_out_everything_but_the_project(docker: Docker, tmp_path: Path) -> None:
    """The repository's .dockerignore applied to a tree with secrets and clutter in it."""
    marker = "gemini-agent-context-marker-" + uuid.uuid4().hex
    tree = {
        "pyproject.toml": "[project]\n",
        "uv.lock": "version = 1\n",
        "README.md": "# x\n",
        "agent/__init__.py": "",
        "agent/stores/base.py": "",
        "api/app.py": "",
        "agent/__pycache__/x.cpython-311.pyc": marker,
        "secrets/gemini_api_key": marker,
        ".env": f"GEMINI_API_KEY={marker}\n",
        ".git/config": marker,
        ".venv/bin/python": marker,
        "tests/test_x.py": marker,
        "reports/junit.xml": marker,
        ".pytest_cache/v": marker,
        "result/image.tar": marker,
        "Dockerfile": "FROM scratch\n",
    }
    context = tmp_path / "context"
    for name, content in tree.items():
        path = context / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    (context / ".dockerignore").write_text((ROOT / ".dockerignore").read_text())
    (tmp_path / "probe.Dockerfile").write_text(
        f"FROM {docker.images['PYTHON_IMAGE']}\nCOPY . /ctx\n"
    )
    tag = "gemini-agent-context-probe:" + marker[-12:]
    try:
        docker.run(
            "build", "--quiet", "-f", str(tmp_path / "probe.Dockerfile"), "-t", tag, str(context)
        )
        listing = docker.run(
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            tag,
            "-c",
            "cd /ctx && find . -type f | sort && cat $(find . -type f) /dev/null",
        ).stdout
    finally:
        docker.run("rmi", "-f", tag, check=False)
    files = sorted(line[2:] for line in listing.splitlines() if line.startswith("./"))
    assert files == [
        "README.md",
        "agent/__init__.py",
        "agent/stores/base.py",
        "api/app.py",
        "pyproject.toml",
        "uv.lock",
    ]
    assert marker not in listing


def test_build_secret_never_lands_in_the_image(
    docker: Docker, app_image: str, tmp_path: Path
) -> None:
    """A cache-less build with a marked CA secret: the marker is in no layer and no config."""
    marker = "gemini-agent-ca-marker-" + uuid.uuid4().hex
    ca = tmp_path / "ca.pem"
    system_ca = Path("/etc/ssl/certs/ca-certificates.crt")
    bundle = system_ca.read_text() if system_ca.exists() else ""
    # A comment outside the PEM blocks: still a valid bundle for pip and uv.
    ca.write_text(bundle + f"\n# {marker}\n")
    tag = "gemini-agent-secret-probe:" + marker[-12:]
    try:
        docker.run(
            "build",
            "--no-cache",
            "--quiet",
            "--secret",
            f"id=ca,src={ca}",
            "--build-arg",
            f"PYTHON_IMAGE={docker.images['PYTHON_IMAGE']}",
            "-t",
            tag,
            str(ROOT),
            timeout=600,
        )
        archive = tmp_path / "image.tar"
        docker.run("save", "-o", str(archive), tag, timeout=300)
        needle = marker.encode()
        found = False
        with archive.open("rb") as f:
            tail = b""
            while chunk := f.read(1 << 20):
                if needle in tail + chunk:
                    found = True
                    break
                tail = chunk[-len(needle) :]
        assert archive.stat().st_size > 10_000_000
        assert not found, "the build secret's content is in the saved image"
    finally:
        docker.run("rmi", "-f", tag, check=False)


def test_container_start_and_stop(
    docker: Docker, app_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plain `docker run`: time to /ready, tini as PID 1, healthy, clean stop on SIGTERM."""
    port = free_port()
    name = "gatest-run-" + uuid.uuid4().hex[:8]
    started = time.monotonic()
    docker.run("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", app_image)
    try:
        ready_after = None
        while time.monotonic() - started < 60:
            try:
                status, _ = http("GET", f"http://127.0.0.1:{port}/ready", timeout=2)
            except OSError:
                status = 0
            if status == 200:
                ready_after = time.monotonic() - started
                break
            time.sleep(0.1)
        logs = docker.run("logs", name, check=False)
        assert ready_after is not None, logs.stdout[-3000:] + logs.stderr[-3000:]

        pid1 = docker.run("exec", name, "cat", "/proc/1/cmdline").stdout.split("\0")
        assert pid1[0] == "/usr/bin/tini", pid1
        assert docker.run("exec", name, "id", "-u").stdout.strip() == "65532"

        health = ""
        while time.monotonic() - started < 45:
            health = docker.run(
                "inspect", "--format", "{{.State.Health.Status}}", name
            ).stdout.strip()
            if health == "healthy":
                break
            time.sleep(0.5)
        assert health == "healthy"

        stop_started = time.monotonic()
        docker.run("stop", "--time", "20", name)
        stop_seconds = time.monotonic() - stop_started
        exit_code = docker.run("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        # SIGTERM reached the server through tini: a prompt exit, not a SIGKILL (137). uvicorn
        # re-raises the signal after its graceful shutdown, hence 143 rather than 0.
        assert stop_seconds < 15
        assert exit_code in ("0", "143"), exit_code
    finally:
        docker.run("rm", "-f", name, check=False)

    image = docker.inspect(app_image)
    total = int(image["Size"])
    base_name = docker.images["PYTHON_IMAGE"]
    base = docker.run("image", "inspect", "--format", "{{.Size}}", base_name, check=False)
    base_size = int(base.stdout.strip()) if base.returncode == 0 else None
    facts = {
        "image": app_image,
        "base": base_name,
        "total_mb": round(total / 1e6, 1),
        "app_layers_mb": round((total - base_size) / 1e6, 1) if base_size else None,
        "seconds_to_ready": round(ready_after, 2),
        "seconds_to_stop": round(stop_seconds, 2),
    }
    with capsys.disabled():
        print(f"\nimage facts: {json.dumps(facts)}")
    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "image-facts.json").write_text(json.dumps(facts, indent=2) + "\n")
    if base_size:
        # The venv with stripped extension modules is about 72 MB; catch regressions early.
        assert 0 < total - base_size < 100_000_000
