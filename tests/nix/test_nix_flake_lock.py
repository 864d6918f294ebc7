"""flake.lock pins exactly the inputs flake.nix declares, with the follows edges it asks for."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.nix.flake_lock import lock_problems, parse_flake_url
from tests.nix.nix_instantiate import NixInstantiate


@pytest.fixture(scope="module")
def declared(nix: NixInstantiate, repo_root: Path) -> dict[str, Any]:
    flake = repo_root / "flake.nix"
    return {
        "inputs": nix.eval_expr(f"(import {flake}).inputs"),
        "outputs_args": set(
            nix.eval_expr(f"builtins.attrNames (builtins.functionArgs (import {flake}).outputs)")
        ),
    }


@pytest.fixture
def lock(repo_root: Path) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads((repo_root / "flake.lock").read_text())
    return parsed


def problems(declared: dict[str, Any], lock: dict[str, Any]) -> list[str]:
    return lock_problems(declared["inputs"], lock, declared["outputs_args"])


def test_flake_lock_matches_flake_nix(declared: dict[str, Any], lock: dict[str, Any]) -> None:
    assert problems(declared, lock) == []
    assert set(declared["inputs"]) == {
        "nixpkgs",
        "pyproject-nix",
        "uv2nix",
        "pyproject-build-systems",
    }


def test_every_input_follows_the_one_nixpkgs(lock: dict[str, Any]) -> None:
    nodes = lock["nodes"]
    assert sorted(nodes) == [
        "nixpkgs",
        "pyproject-build-systems",
        "pyproject-nix",
        "root",
        "uv2nix",
    ]
    for name in ("pyproject-nix", "uv2nix", "pyproject-build-systems"):
        assert nodes[name]["inputs"]["nixpkgs"] == ["nixpkgs"]


def drift_owner_case(lock: dict[str, Any]) -> None:
    lock["nodes"]["nixpkgs"]["original"]["owner"] = "nixos"


def drift_dropped_follows(lock: dict[str, Any]) -> None:
    lock["nodes"]["uv2nix"]["inputs"]["nixpkgs"] = "nixpkgs_2"
    lock["nodes"]["nixpkgs_2"] = copy.deepcopy(lock["nodes"]["nixpkgs"])


def drift_short_rev(lock: dict[str, Any]) -> None:
    lock["nodes"]["uv2nix"]["locked"]["rev"] = lock["nodes"]["uv2nix"]["locked"]["rev"][:12]


def drift_nar_hash(lock: dict[str, Any]) -> None:
    lock["nodes"]["pyproject-nix"]["locked"]["narHash"] = "sha256-tooshort="


def drift_missing_input(lock: dict[str, Any]) -> None:
    del lock["nodes"]["root"]["inputs"]["pyproject-build-systems"]


def drift_version(lock: dict[str, Any]) -> None:
    lock["version"] = 6


def drift_orphan(lock: dict[str, Any]) -> None:
    lock["nodes"]["flake-utils"] = {"locked": {}, "original": {}}


DRIFTS = {
    "owner-case": (drift_owner_case, "input nixpkgs: original"),
    "dropped-follows": (drift_dropped_follows, "input uv2nix: follows nixpkgs"),
    "short-rev": (drift_short_rev, "input uv2nix: locked rev"),
    "nar-hash": (drift_nar_hash, "input pyproject-nix: narHash"),
    "missing-input": (drift_missing_input, "root inputs"),
    "version": (drift_version, "lock version"),
    "orphan": (drift_orphan, "node flake-utils is not reachable"),
}


@pytest.mark.parametrize("name", sorted(DRIFTS))
def test_lock_drift_is_reported(name: str, declared: dict[str, Any], lock: dict[str, Any]) -> None:
    apply, expected = DRIFTS[name]
    apply(lock)
    found = problems(declared, lock)
    assert [line for line in found if line.startswith(expected)], found


def test_follows_declared_but_not_locked(declared: dict[str, Any], lock: dict[str, Any]) -> None:
    inputs = copy.deepcopy(declared["inputs"])
    inputs["uv2nix"]["inputs"]["extra"] = {"follows": "nixpkgs"}
    found = lock_problems(inputs, lock)
    assert found == ["input uv2nix: follows extra -> ['nixpkgs'] missing, lock has None"]


@pytest.mark.parametrize(
    ("url", "original"),
    [
        (
            "github:NixOS/nixpkgs/nixos-unstable",
            {"owner": "NixOS", "repo": "nixpkgs", "ref": "nixos-unstable"},
        ),
        ("github:pyproject-nix/uv2nix", {"owner": "pyproject-nix", "repo": "uv2nix"}),
        ("github:a/b/" + "0" * 40, {"owner": "a", "repo": "b", "rev": "0" * 40}),
    ],
)
def test_parse_flake_url(url: str, original: dict[str, str]) -> None:
    assert parse_flake_url(url) == {"type": "github", **original}
