"""An emulator per test session, plus SDK clients pointed at it over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx2
import pytest
from google import genai
from google.genai import types

from tests.emulator_server import running_emulator

EMULATOR_KEY = "emulator-test-key"

ClientFactory = Callable[..., genai.Client]


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    with running_emulator() as url:
        yield url


@pytest.fixture(scope="session")
def keyed_emulator_url() -> Iterator[str]:
    with running_emulator(api_key=EMULATOR_KEY) as url:
        yield url


@pytest.fixture(scope="session")
def raw(emulator_url: str) -> Iterator[httpx2.Client]:
    """Plain HTTP to the emulator, for wire-level checks and the admin routes."""
    with httpx2.Client(base_url=emulator_url, trust_env=False, timeout=10) as client:
        yield client


@pytest.fixture(autouse=True)
def clean_emulator(raw: httpx2.Client) -> None:
    """Each test starts with no pending faults and zeroed request counts."""
    assert raw.delete("/_emulator/faults").status_code == 200
    assert raw.delete("/_emulator/stats").status_code == 200


def make_client(
    base_url: str, *, api_key: str = "any-key", attempts: int = 1, timeout_ms: int = 5000
) -> genai.Client:
    retry = types.HttpRetryOptions(
        attempts=attempts, initial_delay=0.01, max_delay=0.05, exp_base=2.0, jitter=0.0
    )
    return genai.Client(
        api_key=api_key,
        http_options=types.HttpOptions(
            base_url=base_url, api_version="v1beta", timeout=timeout_ms, retry_options=retry
        ),
    )


@pytest.fixture
def client_for(emulator_url: str) -> Iterator[ClientFactory]:
    # Clients are held until teardown: a collected genai.Client closes its pool mid-request.
    clients: list[genai.Client] = []

    def build(**options: object) -> genai.Client:
        clients.append(make_client(emulator_url, **options))  # type: ignore[arg-type]
        return clients[-1]

    yield build
    for built in clients:
        built.close()


@pytest.fixture
def client(client_for: ClientFactory) -> genai.Client:
    return client_for()
