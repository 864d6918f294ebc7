"""Runs Debian's nix-instantiate offline: parse, and strict evaluation to JSON.

`--store dummy://` keeps it away from any store or daemon, so it needs no /nix, no network
and no privileges, on a CI machine as in the Nix build sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
STUBS = Path(__file__).resolve().parent / "stubs"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # nix-bin's default config names a build group that a plain install does not create;
    # nothing is built here, so the group is irrelevant and its warning is noise.
    env["NIX_CONFIG"] = "build-users-group =\n" + env.get("NIX_CONFIG", "")
    return env


class NixInstantiate:
    def __init__(self, executable: str) -> None:
        self.executable = executable

    def parse(self, path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.executable, "--store", "dummy://", "--parse", str(path)],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=60,
            check=False,
        )

    def eval(self, file: Path, **path_args: Path) -> Any:
        """`file` evaluated strictly to JSON; keyword arguments become `--argstr NAME PATH`."""
        cmd = [self.executable, "--store", "dummy://", "--eval", "--strict", "--json", str(file)]
        for name, value in path_args.items():
            cmd += ["--argstr", name, str(Path(value).resolve())]
        done = subprocess.run(
            cmd, capture_output=True, text=True, env=_env(), timeout=120, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"nix-instantiate failed on {file}:\n{done.stderr}")
        return json.loads(done.stdout)

    def eval_expr(self, expression: str) -> Any:
        done = subprocess.run(
            [
                self.executable,
                "--store",
                "dummy://",
                "--eval",
                "--strict",
                "--json",
                "-E",
                expression,
            ],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"nix-instantiate failed on {expression!r}:\n{done.stderr}")
        return json.loads(done.stdout)
