"""The schemathesis CLI against the compose stack (API, workers, Postgres, Redis, emulator).

Two runs per test session, every check and phase each: a fixed seed (the same cases on every
machine) and a fresh random seed (new cases each time; printed and written next to the
reports, and `FUZZ_SEED=<n> make fuzz` replays it). Reports: reports/schemathesis/stack-*/
(junit.xml, cassette.yaml, output.log).

Rate limiting: the stack runs its real limiter (Redis, per key per minute). The two fuzzing
keys get RATE_LIMIT_OVERRIDES far above what one fuzzer can send, rather than throttling the
fuzzer: schemathesis' auth probes (ignored_auth, missing_required_header) do not wait out a
429, so throttling would trade speed for flaky verdicts. A third key with a tiny limit shows
the limiter is on in this very stack.
"""

from __future__ import annotations

import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.compose_stack import Docker, Stack, free_port, http
from tests.contract import fuzz_cli
from tests.contract.identities import FUZZ_RATE_LIMIT, keys, rate_limit_overrides

pytestmark = [pytest.mark.fuzz, pytest.mark.container]

PROBE_KEY = "probe-" + uuid.uuid4().hex[:12]
PROBE_LIMIT = 3
RUN_TIMEOUT = 240.0


def write_secrets(folder: Path) -> None:
    password = uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    api_keys = [f"{name}:{key}" for name, key in keys().items()] + [f"probe:{PROBE_KEY}"]
    files = {
        "gemini_api_key": "unused-with-the-emulator",
        "api_keys": ",".join(api_keys),
        "postgres_password": password,
        "database_url": f"postgresql://agent:{password}@postgres:5432/agent",
    }
    for name, content in files.items():
        path = folder / name
        path.write_text(content)
        # Read by the containers' unprivileged users through the bind mount.
        path.chmod(0o644)


@pytest.fixture(scope="module")
def fuzz_stack(fuzz_docker: Docker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    secrets = tmp_path_factory.mktemp("fuzz-secrets")
    write_secrets(secrets)
    port = free_port()
    env = {
        **fuzz_docker.images,
        "GEMINI_AGENT_SECRETS": str(secrets),
        "API_PORT": str(port),
        # The limiter stays on: every key but the fuzzing ones keeps the default limit.
        "RATE_LIMIT_PER_MINUTE": "120",
        "RATE_LIMIT_OVERRIDES": f"{rate_limit_overrides()},probe={PROBE_LIMIT}",
    }
    project = "gafuzz-" + uuid.uuid4().hex[:8]
    stack = Stack(fuzz_docker, project, ["compose.yaml", "compose.emulator.yaml"], env, port)
    try:
        stack.up()
        yield stack
    finally:
        stack.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False)


def operation_count(stack: Stack) -> int:
    status, doc = http("GET", stack.url + "/openapi.json")
    assert status == 200, doc
    return sum(len(ops) for ops in doc["paths"].values())


def test_fuzzed_stack_runs_its_real_limiter(fuzz_stack: Stack) -> None:
    # The fuzzing keys pass through the limiter too, with their raised limit.
    request = urllib.request.Request(
        fuzz_stack.url + "/api/v1/tools", headers={"X-API-Key": keys()["alice"]}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        assert response.status == 200
        assert response.headers["RateLimit-Limit"] == str(FUZZ_RATE_LIMIT)
    # Any other key meets the real limit.
    statuses = [
        http("GET", fuzz_stack.url + "/api/v1/tools", headers={"X-API-Key": PROBE_KEY})[0]
        for _ in range(PROBE_LIMIT + 1)
    ]
    assert statuses == [200] * PROBE_LIMIT + [429], statuses


def fuzz(stack: Stack, name: str, seed: int, capsys: pytest.CaptureFixture[str]) -> None:
    report_dir = fuzz_cli.REPORTS / name
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "seed.txt").write_text(f"{seed}\n")
    cmd = fuzz_cli.command(stack.url + "/openapi.json", seed, report_dir)
    with capsys.disabled():
        print(f"\n=== schemathesis against the stack ({name}): seed {seed} ===", flush=True)
        outcome = fuzz_cli.run(cmd, report_dir, sys.stdout, RUN_TIMEOUT)
        print(
            f"=== {name}: exit {outcome.returncode} in {outcome.seconds:.0f}s, seed {seed}, "
            f"{outcome.summary} ===",
            flush=True,
        )
    tail = outcome.output[-6000:]
    if outcome.returncode != 0:
        logs = stack.compose("logs", "--no-color", "api", "worker", check=False).stdout
        # The server's side of a 500: its error lines carry the traceback.
        errors = [line for line in logs.splitlines() if '"level": "error"' in line]
        pytest.fail(
            f"schemathesis exited {outcome.returncode} (seed {seed}; replay with "
            f"FUZZ_SEED={seed} make fuzz, reports in {report_dir}):\n{tail}\n"
            f"api/worker error log lines:\n" + "\n".join(errors)[-6000:]
        )
    operations = operation_count(stack)
    summary = outcome.summary
    assert summary.get("operations_selected") == operations, (summary, tail)
    assert summary.get("operations_tested") == operations, (summary, tail)
    # Every operation got cases from three generating phases (not 100 each: some operations
    # have fewer distinct inputs than that).
    assert summary.get("cases_generated", 0) >= 10 * operations, (summary, tail)
    assert summary.get("scenarios", 0) > 0, (summary, tail)
    # The explicit links (task -> get/cancel/events, chat -> session get/delete) and the
    # inferred ones were followed by the stateful phase.
    assert summary.get("links_covered", 0) >= 5, (summary, tail)
    assert (report_dir / "junit.xml").stat().st_size > 0
    assert (report_dir / "cassette.yaml").stat().st_size > 0


def test_stack_contract_fixed_seed(fuzz_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    fuzz(fuzz_stack, "stack-fixed-seed", fuzz_cli.FIXED_SEED, capsys)


def test_stack_contract_random_seed(fuzz_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    fuzz(fuzz_stack, "stack-random-seed", fuzz_cli.random_seed(), capsys)
