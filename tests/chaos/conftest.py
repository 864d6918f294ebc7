"""One chaos stack for every test in tests/chaos: the compose files in production posture plus
tests/chaos/compose.chaos.yaml (three API replicas, two workers, emulator on loopback).

The stack, its engine and images come from tests/container/compose_stack.py (provisioned by
.ci/provision-docker.sh). Without Docker these tests skip outside CI and fail under CI=true.
Tests that break something put it back before they end, so later tests find a whole stack.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.chaos_stack import ChaosStack, Keys, write_chaos_secrets
from tests.container.compose_stack import (
    Docker,
    connect_docker,
    free_port,
)

# File order: the in-process checks, then the smoke flow and the checks that leave the stack
# as it was, then the faults and the load, and the secret scan last of all (it reads what
# every other test made the stack log and answer).
ORDER = [
    "test_chaos_history.py",
    "test_chaos_http_get.py",
    "test_chaos_serve.py",
    "test_chaos_posture.py",
    "test_chaos_security.py",
    "test_chaos_input.py",
    "test_chaos_faults.py",
    "test_chaos_load.py",
    "test_chaos_secret_scan.py",
]
_open_stacks: list[ChaosStack] = []


def uses_stack(item: pytest.Item | None) -> bool:
    return item is not None and "chaos" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    slots = [i for i, item in enumerate(items) if "tests/chaos/" in str(item.path)]
    mine = [items[i] for i in slots]
    mine.sort(key=lambda item: ORDER.index(item.path.name) if item.path.name in ORDER else 0)
    for slot, item in zip(slots, mine, strict=True):
        items[slot] = item
        if uses_stack(item):
            item.add_marker(pytest.mark.container)


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # Take the stack down after the last test that uses it, not at the end of the session:
    # it should not idle through every other test folder.
    if uses_stack(item) and not uses_stack(nextitem):
        while _open_stacks:
            down(_open_stacks.pop())


def down(stack: ChaosStack) -> None:
    stack.compose(
        "--profile", "inproc", "down", "-v", "--remove-orphans", "--timeout", "10", check=False
    )


@pytest.fixture(scope="session")
def chaos_docker() -> Docker:
    return connect_docker(require_image=True)


@pytest.fixture(scope="session")
def chaos(chaos_docker: Docker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosStack]:
    folder = tmp_path_factory.mktemp("chaos")
    keys = Keys.fresh()
    write_chaos_secrets(folder / "secrets", keys)
    logs = folder / "tool-log"
    logs.mkdir()
    # Written by the containers' unprivileged user through the bind mount.
    logs.chmod(0o777)
    api_port = free_port(3)
    env = {
        **chaos_docker.images,
        "GEMINI_AGENT_SECRETS": str(folder / "secrets"),
        "API_PORT": str(api_port),
        "API_PORT_LAST": str(api_port + 2),
        "EMULATOR_PORT": str(free_port()),
        "INPROC_PORT": str(free_port()),
        "CHAOS_LOG_DIR": str(logs),
    }
    files = [
        "compose.yaml",
        "compose.emulator.yaml",
        "compose.prod.yaml",
        "tests/chaos/compose.chaos.yaml",
    ]
    stack = ChaosStack(
        chaos_docker,
        "gachaos-" + uuid.uuid4().hex[:8],
        files,
        env,
        api_port,
        keys=keys,
        tool_log=logs / "steps.log",
        folder=folder,
    )
    _open_stacks.append(stack)
    try:
        stack.up()
        stack.wait_all_ready()
        yield stack
    finally:
        if stack in _open_stacks:
            _open_stacks.remove(stack)
            down(stack)


@pytest.fixture
def tool_log(chaos: ChaosStack) -> Path:
    return chaos.tool_log
