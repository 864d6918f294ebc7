"""Integration tests run against real Postgres and Redis servers that the tests start."""

from __future__ import annotations

import pytest

from tests.real_services import *  # noqa: F403 (the server fixtures)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)
