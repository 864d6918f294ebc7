"""Every Nix file in the repository parses."""

from pathlib import Path

import pytest

from tests.nix.nix_instantiate import REPO_ROOT, NixInstantiate

SKIPPED_DIRS = {".git", ".venv", "node_modules", "result"}


def nix_files() -> list[Path]:
    return sorted(
        path
        for path in REPO_ROOT.rglob("*.nix")
        if not SKIPPED_DIRS.intersection(path.relative_to(REPO_ROOT).parts)
    )


def test_the_flake_and_its_modules_are_found() -> None:
    found = {path.relative_to(REPO_ROOT).as_posix() for path in nix_files()}
    assert {"flake.nix", "nix/python.nix", "nix/image.nix", "nix/checks.nix"} <= found


@pytest.mark.parametrize("path", nix_files(), ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_nix_file_parses(path: Path, nix: NixInstantiate) -> None:
    done = nix.parse(path)
    assert done.returncode == 0, done.stderr


def test_a_syntax_error_is_reported(tmp_path: Path, nix: NixInstantiate) -> None:
    broken = tmp_path / "broken.nix"
    broken.write_text((REPO_ROOT / "nix/image.nix").read_text().replace("};", "}", 1))
    done = nix.parse(broken)
    assert done.returncode != 0
    assert "syntax error" in done.stderr
