"""The OpenAPI contract, fuzzed in-process against the ASGI app with every check.

The fast loop: the same schemathesis.toml (auth as two peers, checks, per-operation settings)
as the CLI run against the containers, without Docker.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from tests.contract.identities import api_keys_setting, rate_limit_overrides
from tests.core.conftest import settings_for
from tests.emulator_server import running_emulator

_emulator = running_emulator()
_url = _emulator.__enter__()  # lives for the test process; a daemon thread

app = create_app(
    settings_for(
        _url,
        api_keys=api_keys_setting(),
        # The limiter stays on; the fuzzing keys' limit is set above what the fuzzer sends.
        rate_limit_overrides=rate_limit_overrides(),
        max_body_bytes=65_536,
    )
)
# schemathesis.toml's [auth.wfc] supplies both keys: schemathesis knows what auth is, so its
# negative cases drop or corrupt it, ignored_auth probes without it, and
# object_level_authorization replays alice's reads as bob.
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


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
