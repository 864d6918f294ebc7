"""Servers as subprocesses on 127.0.0.1: start, wait until they answer, sample RSS, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import psutil

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (127.0.0.1 only)
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> float:
    """Seconds until `url` answers 200; raises when the process dies or time runs out."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        if http_status(url, 1.0) == 200:
            return time.monotonic() - started
        time.sleep(0.02)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s")


def base_env(**extra: str) -> dict[str, str]:
    """The service's environment: nothing inherited that would change what is measured."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
    }
    env.update(
        ENVIRONMENT="development",
        SECRETS_DIR="/nonexistent",
        LOG_LEVEL="info",
        LOG_FORMAT="json",
        RATE_LIMIT_PER_MINUTE="1000000",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Server:
    """One subprocess with its output in a log file; stopped with SIGINT, then SIGKILL."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], workdir: Path):
        self.name = name
        self.log_path = workdir / f"{name}.log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 (our own executables)
                list(argv),
                env=env,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float:
        return psutil.Process(self.proc.pid).memory_info().rss / 1_048_576

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def agent_argv(*args: str, profile_to: Path | None = None) -> list[str]:
    """`agent ARGS`, optionally under pyinstrument (text report written at exit)."""
    if profile_to is None:
        return [str(VENV_BIN / "agent"), *args]
    return [
        sys.executable,
        "-m",
        "pyinstrument",
        "--renderer",
        "text",
        "--outfile",
        str(profile_to),
        "-m",
        "agent.cli",
        *args,
    ]


class RssSampler:
    """Peak RSS of one process, sampled every 100 ms on a thread while a load runs."""

    def __init__(self, pid: int) -> None:
        self._proc = psutil.Process(pid)
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self._proc.memory_info().rss / 1_048_576
            except psutil.Error:
                return
            self.peak_mb = max(self.peak_mb, rss)
            self._stop.wait(0.1)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class CpuMeter:
    """CPU seconds (user + system) spent by named process trees between two snapshots:
    says which process a load's time went to."""

    def __init__(self, roots: dict[str, tuple[int, bool]]) -> None:
        # name -> (pid, whether to count its children too)
        self.roots = roots

    def snapshot(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for name, (pid, tree) in self.roots.items():
            try:
                root = psutil.Process(pid)
                procs = [root, *root.children(recursive=True)] if tree else [root]
            except psutil.Error:
                continue
            seconds = 0.0
            for p in procs:
                try:
                    t = p.cpu_times()
                except psutil.Error:
                    continue
                seconds += t.user + t.system
            totals[name] = seconds
        return totals

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: round(after[k] - before.get(k, 0.0), 3) for k in after}
