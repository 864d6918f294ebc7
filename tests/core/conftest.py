"""Fixtures for the core tests: an emulator over real HTTP and apps built from settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from agent.settings import Settings
from api.app import create_app
from tests.emulator_server import running_emulator

KEYS = "alice:alice-key-0001,bob:bob-key-00002"
ALICE = {"X-API-Key": "alice-key-0001"}
BOB = {"X-API-Key": "bob-key-00002"}


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    with running_emulator() as url:
        yield url


@pytest.fixture(autouse=True)
def emulator(emulator_url: str) -> Iterator[httpx2.Client]:
    """Admin access to the emulator; each test starts with no faults and zeroed stats."""
    with httpx2.Client(base_url=emulator_url, trust_env=False, timeout=10) as client:
        client.delete("/_emulator/faults")
        client.delete("/_emulator/stats")
        yield client


def settings_for(emulator_url: str | None = None, **overrides: Any) -> Settings:
    """Settings isolated from the machine's environment and .env file."""
    base: dict[str, Any] = {
        "_env_file": None,
        "gemini_retry_attempts": 3,
        "gemini_retry_initial_delay": 0.01,
        "gemini_retry_max_delay": 0.05,
        "gemini_timeout_ms": 5000,
        "sweep_interval_seconds": 0.2,
    }
    if emulator_url is not None:
        base |= {"gemini_base_url": emulator_url, "gemini_api_key": "test-gemini-key"}
    return Settings(**(base | overrides))


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(emulator_url: str) -> Iterator[AppFactory]:
    """Build an app over the HTTP emulator (in-memory stores) and enter its lifespan."""
    opened: list[TestClient] = []

    def build(**overrides: Any) -> TestClient:
        client = TestClient(create_app(settings_for(emulator_url, **overrides)))
        client.__enter__()
        opened.append(client)
        return client

    yield build
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_client: AppFactory) -> TestClient:
    """Two API keys (alice, bob), default limits."""
    return make_client(api_keys=KEYS)
