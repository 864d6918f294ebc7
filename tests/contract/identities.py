"""The two fuzzing identities, read from the WFC document schemathesis.toml points at."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
USERS_FILE = Path(__file__).with_name("fuzz-users.json")
# Far above what the fuzzer sends in a minute: the limiter runs on every request, but a
# fuzzing key never meets it, so no 429 can masquerade as a contract failure.
FUZZ_RATE_LIMIT = 1_000_000


def keys() -> dict[str, str]:
    """name -> X-API-Key value, for every identity in the document."""
    doc = json.loads(USERS_FILE.read_text())
    out: dict[str, str] = {}
    for entry in doc["auth"]:
        (header,) = [h for h in entry["fixedHeaders"] if h["name"] == "X-API-Key"]
        out[entry["name"]] = header["value"]
    return out


def api_keys_setting() -> str:
    """API_KEYS for a service that knows both identities."""
    return ",".join(f"{name}:{key}" for name, key in keys().items())


def rate_limit_overrides() -> str:
    """RATE_LIMIT_OVERRIDES lifting only the fuzzing keys' per-minute limit."""
    return ",".join(f"{name}={FUZZ_RATE_LIMIT}" for name in keys())
