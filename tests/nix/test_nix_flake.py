"""flake.nix and nix/python.nix evaluated against stand-in inputs: what each output is wired
to, for both systems, and how the Python set is built from uv.lock."""

import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet

from tests.nix.nix_instantiate import STUBS, NixInstantiate

SYSTEMS = ["aarch64-linux", "x86_64-linux"]


@pytest.fixture(scope="module")
def flake(nix: NixInstantiate) -> dict[str, Any]:
    outputs: dict[str, Any] = nix.eval(STUBS / "flake-outputs.nix")
    return outputs


@pytest.fixture(scope="module")
def python_set(nix: NixInstantiate) -> dict[str, Any]:
    summary: dict[str, Any] = nix.eval(STUBS / "python.nix")
    return summary


def test_inputs_and_outputs(flake: dict[str, Any]) -> None:
    assert flake["inputs"] == ["nixpkgs", "pyproject-build-systems", "pyproject-nix", "uv2nix"]
    assert set(flake["outputsArgs"]) == {"self", *flake["inputs"]}
    assert flake["outputs"] == ["apps", "checks", "devShells", "packages"]


@pytest.mark.parametrize("system", SYSTEMS)
def test_packages(flake: dict[str, Any], system: str) -> None:
    packages = flake["packages"][system]
    assert packages["names"] == ["default", "image"]
    assert packages["defaultName"] == "gemini-agent-env"
    assert packages["defaultSystem"] == system
    # Runtime dependencies only: no dev group in the image.
    assert packages["defaultSpec"] == {"gemini-agent": []}
    image = packages["image"]
    assert image["name"] == "gemini-agent"
    assert image["system"] == system
    assert image["config"]["Cmd"][0].endswith("-gemini-agent-env/bin/agent")


def test_image_version_label_is_the_project_version(flake: dict[str, Any], repo_root: Path) -> None:
    version = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["version"]
    labels = flake["packages"]["x86_64-linux"]["image"]["config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == version


@pytest.mark.parametrize("system", SYSTEMS)
def test_app_serves(flake: dict[str, Any], system: str) -> None:
    app = flake["apps"][system]
    assert app["names"] == ["default"]
    assert app["type"] == "app"
    assert app["program"].endswith("-gemini-agent-serve")


def test_app_script_runs_agent_serve(repo_root: Path) -> None:
    flake_text = (repo_root / "flake.nix").read_text()
    assert 'exec ${(pythonFor pkgs).venv}/bin/agent serve "$@"' in flake_text


@pytest.mark.parametrize("system", SYSTEMS)
def test_dev_shell(flake: dict[str, Any], system: str) -> None:
    shell = flake["devShells"][system]
    assert shell["names"] == ["default"]
    assert shell["packages"] == ["python3-3.12", "uv", "redis", "postgresql", "nix"]
    assert shell["env"]["UV_PYTHON"].endswith("/bin/python3.12")
    assert shell["env"]["UV_PYTHON_DOWNLOADS"] == "never"


@pytest.mark.parametrize("system", SYSTEMS)
def test_checks_build_for_their_own_system(flake: dict[str, Any], system: str) -> None:
    checks = flake["checks"][system]
    assert sorted(checks) == ["default", "image", "nix-offline", "unit-tests"]
    assert {check["system"] for check in checks.values()} == {system}


def test_python_set_from_uv_lock(python_set: dict[str, Any]) -> None:
    assert python_set["overlays"] == [
        "pyproject-build-systems.overlays.wheel",
        {"mkPyprojectOverlayArgs": {"sourcePreference": "wheel"}},
    ]
    assert python_set["venv"] == {"name": "gemini-agent-env", "venvSpec": {"gemini-agent": []}}
    test_spec = python_set["testVenv"]["venvSpec"]
    assert test_spec["gemini-agent"] == []
    assert {"pytest", "pytest-asyncio", "pytest-timeout", "hypothesis"} <= set(test_spec)


def test_interpreter_satisfies_requires_python(python_set: dict[str, Any], repo_root: Path) -> None:
    assert python_set["pythonVersion"] == "3.12"
    version = f"{python_set['pythonVersion']}.0"
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    lock = tomllib.loads((repo_root / "uv.lock").read_text())
    assert version in SpecifierSet(project["requires-python"])
    assert version in SpecifierSet(lock["requires-python"])


def test_sandbox_checks_run_pytest(flake: dict[str, Any], repo_root: Path) -> None:
    checks = flake["checks"]["x86_64-linux"]
    markers = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"
    ]["markers"]
    declared = {marker.partition(":")[0] for marker in markers}

    unit = checks["unit-tests"]
    assert unit["tools"] == ["gemini-agent-test-env"]
    # The sandbox has no Redis, Postgres or Docker: the tests that need them are deselected
    # by markers that pyproject.toml declares (a typo would silently select nothing).
    assert '-m "not integration and not container"' in unit["buildPhase"]
    assert {"integration", "container"} <= declared
    assert "--ignore=tests/nix" in unit["buildPhase"]

    offline = checks["nix-offline"]
    assert offline["tools"] == ["gemini-agent-test-env", "nix"]
    assert "pytest" in offline["buildPhase"] and "tests/nix" in offline["buildPhase"]
