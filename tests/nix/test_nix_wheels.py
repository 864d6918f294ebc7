"""Every package the Nix virtualenvs install from uv.lock has a wheel for the flake's
interpreter on both Linux architectures, so building the image (and the checks' test
environment) compiles nothing and downloads nothing at build time."""

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.nix.lock_wheels import ARCHITECTURES, packages_without_wheel, runtime_closure
from tests.nix.nix_instantiate import STUBS, NixInstantiate

PROJECT = "gemini-agent"


@pytest.fixture(scope="module")
def python_set(nix: NixInstantiate) -> dict[str, Any]:
    # Whatever nix/python.nix picks (interpreter, venv specs), not a copy of it.
    summary: dict[str, Any] = nix.eval(STUBS / "python.nix")
    return summary


@pytest.fixture(scope="module")
def lock(repo_root: Path) -> dict[str, Any]:
    return tomllib.loads((repo_root / "uv.lock").read_text())


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("venv", ["venv", "testVenv"])
def test_virtualenv_closure_has_manylinux_wheels(
    lock: dict[str, Any], python_set: dict[str, Any], venv: str, arch: str
) -> None:
    roots = python_set[venv]["venvSpec"]
    assert packages_without_wheel(lock, roots, python_set["pythonVersion"], arch) == []


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_image_closure_is_runtime_only(
    lock: dict[str, Any], python_set: dict[str, Any], arch: str
) -> None:
    roots = python_set["venv"]["venvSpec"]
    assert roots == {PROJECT: []}
    closure = runtime_closure(lock, roots, python_set["pythonVersion"], arch)
    # Extras are followed (uvicorn[standard] brings uvloop), dev tools are not.
    assert {"fastapi", "google-genai", "pydantic-core", "uvloop", "asyncpg"} <= set(closure)
    root = next(package for package in lock["package"] if package["name"] == PROJECT)
    dev = {dependency["name"] for dependency in root["dev-dependencies"]["dev"]}
    dev_only = {"pytest", "mypy", "ruff", "schemathesis", "hypothesis"}
    assert dev_only <= dev
    assert not dev_only & set(closure)


def test_test_closure_packages_come_from_the_lock(
    lock: dict[str, Any], python_set: dict[str, Any]
) -> None:
    locked = {package["name"] for package in lock["package"]}
    assert set(python_set["testVenv"]["venvSpec"]) <= locked


def synthetic_lock(wheels: dict[str, list[str]]) -> dict[str, Any]:
    """A lock whose project depends on `a[fast]` and on `b` on Windows only."""
    packages: list[dict[str, Any]] = [
        {
            "name": PROJECT,
            "version": "0",
            "source": {"editable": "."},
            "dependencies": [
                {"name": "a", "extra": ["fast"]},
                {"name": "b", "marker": "sys_platform == 'win32'"},
            ],
            "dev-dependencies": {"dev": [{"name": "d"}]},
        },
        {"name": "a", "version": "1", "optional-dependencies": {"fast": [{"name": "c"}]}},
        {"name": "b", "version": "1"},
        {"name": "c", "version": "1"},
        {"name": "d", "version": "1"},
    ]
    for package in packages:
        names = wheels.get(package["name"], [])
        package["wheels"] = [{"url": f"https://files.example/{name}"} for name in names]
    return {"package": packages}


def test_missing_wheels_are_reported() -> None:
    lock = synthetic_lock(
        {
            "a": ["a-1-py3-none-any.whl"],
            # c: musllinux, and manylinux for another arch or another interpreter only
            "c": [
                "c-1-cp312-cp312-musllinux_1_2_aarch64.whl",
                "c-1-cp312-cp312-manylinux_2_17_x86_64.whl",
                "c-1-cp311-cp311-manylinux_2_17_aarch64.whl",
            ],
        }
    )
    assert packages_without_wheel(lock, {PROJECT: []}, "3.12", "x86_64") == []
    # b is Windows-only and d dev-only: neither is installed, so neither needs a wheel.
    assert packages_without_wheel(lock, {PROJECT: []}, "3.12", "aarch64") == ["c 1"]
    # Naming d as a root (as the test venv names pytest) brings it in.
    assert packages_without_wheel(lock, {PROJECT: [], "d": []}, "3.12", "x86_64") == ["d 1"]


@pytest.mark.parametrize(
    ("filename", "usable"),
    [
        ("c-1-cp312-cp312-manylinux2014_aarch64.manylinux_2_17_aarch64.whl", True),
        ("c-1-cp39-abi3-manylinux_2_28_aarch64.whl", True),
        ("c-1-py3-none-any.whl", True),
        ("c-1-cp312-cp312-manylinux_2_99_aarch64.whl", False),
        ("c-1-cp313-cp313-manylinux_2_17_aarch64.whl", False),
        ("c-1-cp312-cp312-macosx_11_0_arm64.whl", False),
        ("c-1-cp312-cp312-win_arm64.whl", False),
    ],
)
def test_wheel_tag_selection(filename: str, usable: bool) -> None:
    lock = synthetic_lock({"a": ["a-1-py3-none-any.whl"], "c": [filename]})
    assert (packages_without_wheel(lock, {PROJECT: []}, "3.12", "aarch64") == []) is usable
