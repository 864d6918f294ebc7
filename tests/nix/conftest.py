"""Fixtures for the offline Nix checks."""

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.nix.nix_instantiate import REPO_ROOT, STUBS, NixInstantiate


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def nix() -> NixInstantiate:
    found = shutil.which("nix-instantiate")
    if found is None:
        reason = "nix-instantiate not found: run .ci/provision-nix.sh (Debian package nix-bin)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return NixInstantiate(found)


@pytest.fixture(scope="session")
def image_args(nix: NixInstantiate, repo_root: Path) -> dict[str, Any]:
    """The arguments nix/image.nix passes to dockerTools.streamLayeredImage."""
    args: dict[str, Any] = nix.eval(STUBS / "image.nix", imageModule=repo_root / "nix/image.nix")
    return args
