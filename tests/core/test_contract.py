"""The OpenAPI contract, fuzzed in-process against the ASGI app with every check."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config._auth import AuthConfig
from schemathesis.specs.openapi.stateful import OpenAPIStateMachine

from api.app import create_app
from tests.core.conftest import settings_for
from tests.emulator_server import running_emulator

KEY = "contract-key-0001"

_emulator = running_emulator()
_url = _emulator.__enter__()  # lives for the test process; a daemon thread

app = create_app(
    settings_for(
        _url,
        api_keys=f"fuzz:{KEY}",
        # The limiter stays on; the fuzzing key's limit is set above what the fuzzer sends.
        rate_limit_overrides="fuzz=1000000",
        max_body_bytes=65_536,
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
# Configured as the security scheme's credential, so schemathesis knows what auth is: its
# negative cases may drop or corrupt it, and ignored_auth probes without it.
schema.config.auth = AuthConfig(openapi={"APIKeyHeader": {"api_key": KEY}})


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case: schemathesis.Case) -> None:
    case.call_and_validate()


class Workflow(schema.as_state_machine()):  # type: ignore[misc]
    pass


TestStateful = Workflow.TestCase
TestStateful.settings = settings(
    max_examples=30, stateful_step_count=5, deadline=None, suppress_health_check=list(HealthCheck)
)
assert issubclass(Workflow, OpenAPIStateMachine)
