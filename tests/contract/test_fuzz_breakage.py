"""The fuzzing step must fail when the contract breaks.

The same CLI command and schemathesis.toml as the stack run, against the real app served by
uvicorn on 127.0.0.1 (in-memory stores, the emulator) with one thing broken: GET
/api/v1/tools answering an undocumented type or a 500, or task and session reads skipping the
ownership check. A control run against the intact app must pass.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.contract import fuzz_cli
from tests.contract.broken_app import Breakage, broken_app
from tests.contract.identities import api_keys_setting, keys, rate_limit_overrides
from tests.contract.local_server import serving
from tests.core.conftest import settings_for
from tests.emulator_server import running_emulator

pytestmark = pytest.mark.fuzz


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    with running_emulator() as url:
        yield url


def fuzz_one_operation(url: str, name: str, operation_id: str) -> fuzz_cli.Outcome:
    report_dir = fuzz_cli.REPORTS / name
    cmd = fuzz_cli.command(
        url + "/openapi.json",
        fuzz_cli.FIXED_SEED,
        report_dir,
        # The stateful phase needs links, which one GET operation has none of.
        phases=("examples", "coverage", "fuzzing"),
        max_examples=20,
        extra=["--include-operation-id", operation_id],
    )
    return fuzz_cli.run(cmd, report_dir, sys.stdout, timeout=120)


def fuzz_tasks(url: str, name: str) -> fuzz_cli.Outcome:
    report_dir = fuzz_cli.REPORTS / name
    cmd = fuzz_cli.command(
        url + "/openapi.json",
        fuzz_cli.FIXED_SEED,
        report_dir,
        # Alice creates tasks and reads them back through the links; bob replays the reads.
        phases=("fuzzing", "stateful"),
        max_examples=20,
        extra=["--include-path-regex", "^/api/v1/tasks"],
    )
    return fuzz_cli.run(cmd, report_dir, sys.stdout, timeout=180)


@pytest.mark.parametrize(
    ("breakage", "codes"),
    [
        # ST108: response violates schema.
        ("wrong-type", {"ST108"}),
        # ST101: server error; ST103: the 500 is not a documented status either.
        ("server-error", {"ST101", "ST103"}),
    ],
)
def test_broken_contract_fails_the_run(
    emulator_url: str, breakage: Breakage, codes: set[str]
) -> None:
    settings = settings_for(
        emulator_url, api_keys=api_keys_setting(), rate_limit_overrides=rate_limit_overrides()
    )
    with serving(broken_app(settings, breakage, keys())) as url:
        outcome = fuzz_one_operation(url, f"broken-{breakage}", "listTools")
    assert outcome.returncode == 1, outcome.output[-4000:]
    assert codes <= outcome.failure_codes, (outcome.failure_codes, outcome.output[-4000:])
    junit = (outcome.report_dir / "junit.xml").read_text()
    assert "GET /api/v1/tools" in junit and 'failures="0"' not in junit


def test_missing_ownership_check_fails_the_run(emulator_url: str) -> None:
    """The two fuzzing keys catch a read that does not check who owns the object (ST402)."""
    settings = settings_for(
        emulator_url, api_keys=api_keys_setting(), rate_limit_overrides=rate_limit_overrides()
    )
    with serving(broken_app(settings, "ignores-owner", keys())) as url:
        outcome = fuzz_tasks(url, "broken-ignores-owner")
    assert outcome.returncode == 1, outcome.output[-4000:]
    assert "ST402" in outcome.failure_codes, (outcome.failure_codes, outcome.output[-4000:])


def test_intact_contract_passes_the_same_run(emulator_url: str) -> None:
    """The control: the same run against the unbroken app exits 0."""
    from api.app import create_app

    settings = settings_for(
        emulator_url, api_keys=api_keys_setting(), rate_limit_overrides=rate_limit_overrides()
    )
    with serving(create_app(settings)) as url:
        outcome = fuzz_one_operation(url, "intact", "listTools")
    assert outcome.returncode == 0, outcome.output[-4000:]
    assert outcome.failure_codes == set()
    assert outcome.summary.get("operations_tested") == 1, outcome.summary
