"""The schemathesis CLI run: one command line for the stack and for the deliberately broken app.

Everything about *what* is checked lives in schemathesis.toml (auth as two peers, checks,
phases, per-operation settings); this adds what only a run knows: URL, seed, reports.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tests.contract.identities import ROOT

CONFIG = ROOT / "schemathesis.toml"
REPORTS = ROOT / "reports" / "schemathesis"
EXECUTABLE = Path(sys.executable).parent / "schemathesis"
ALL_PHASES = ("examples", "coverage", "fuzzing", "stateful")
# The replayable baseline: the same cases on every run and every machine.
FIXED_SEED = 20261203
MAX_EXAMPLES = 100
PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def random_seed() -> int:
    """A fresh seed per run, or FUZZ_SEED to replay one a failed run printed."""
    given = os.environ.get("FUZZ_SEED", "").strip()
    return int(given) if given else secrets.randbelow(2**31)


@dataclass
class Outcome:
    returncode: int
    output: str
    seconds: float
    report_dir: Path
    summary: dict[str, int] = field(default_factory=dict)

    @property
    def failure_codes(self) -> set[str]:
        """The codes in the summary's Failures list (ST101 server error, ST108 schema, ...)."""
        return set(re.findall(r"\b(ST\d{3}) [A-Z][^:\n]*: \d+", self.output))


def command(
    schema_url: str,
    seed: int,
    report_dir: Path,
    *,
    phases: Sequence[str] = ALL_PHASES,
    max_examples: int = MAX_EXAMPLES,
    extra: Sequence[str] = (),
) -> list[str]:
    return [
        str(EXECUTABLE),
        "--config-file",
        str(CONFIG),
        "run",
        schema_url,
        "--checks",
        "all",
        "--phases",
        ",".join(phases),
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        # One worker: concurrent workers hit a CPython 3.11 `ast.parse` race inside Hypothesis
        # (SystemError "AST constructor recursion depth mismatch"), reported as runtime errors.
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "junit,vcr",
        "--report-junit-path",
        str(report_dir / "junit.xml"),
        "--report-vcr-path",
        str(report_dir / "cassette.yaml"),
        *extra,
    ]


def run(cmd: list[str], report_dir: Path, echo: TextIO, timeout: float) -> Outcome:
    """Runs the CLI from the repository root, streaming its output to `echo` and a log file."""
    report_dir.mkdir(parents=True, exist_ok=True)
    # Fuzz traffic goes to a loopback port only: no proxy may see it.
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
    env["COLUMNS"] = "120"
    started = time.monotonic()
    lines: list[str] = []
    with (report_dir / "output.log").open("w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        echo.write("$ " + " ".join(cmd) + "\n")
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert proc.stdout is not None
        # A run that hangs without printing is killed too, not only one that keeps talking.
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            for line in proc.stdout:
                lines.append(line)
                log.write(line)
                echo.write(line)
            returncode = proc.wait(timeout=30)
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        echo.flush()
    if time.monotonic() - started >= timeout:
        raise AssertionError(f"schemathesis killed after {timeout:.0f}s:\n{''.join(lines)[-4000:]}")
    output = "".join(lines)
    return Outcome(returncode, output, time.monotonic() - started, report_dir, summarize(output))


def summarize(output: str) -> dict[str, int]:
    """The figures of the CLI's summary: operations, cases, stateful scenarios and links."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    found: dict[str, int] = {}
    patterns = {
        "operations_selected": r"Selected:\s+(\d+)/\d+",
        "operations_tested": r"Tested:\s+(\d+)",
        "cases_generated": r"(\d+) generated",
        "scenarios": r"Scenarios:\s+(\d+)",
        "links_covered": r"API Links:\s+(\d+) covered",
        "links_total": r"API Links:\s+\d+ covered / \d+ selected / (\d+) total",
    }
    for name, pattern in patterns.items():
        match = re.search(pattern, plain)
        if match:
            found[name] = int(match.group(1))
    return found
