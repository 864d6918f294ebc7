"""Fixtures for the contract fuzzing: the Docker engine and images (for the stack run).

Reuses tests/container/compose_stack.py: without Docker the stack run skips outside CI and
fails under CI=true.
"""

from __future__ import annotations

import pytest

from tests.container.compose_stack import Docker, connect_docker


@pytest.fixture(scope="session")
def fuzz_docker() -> Docker:
    return connect_docker(require_image=True)
