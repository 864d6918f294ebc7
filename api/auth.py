"""API keys (X-API-Key, constant-time compare) and the per-key rate limit."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyHeader

from agent.runtime import Runtime
from api.errors import ProblemError

OPEN_OWNER = "anonymous"
RATE_WINDOW_SECONDS = 60

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="One of the keys in API_KEYS"
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key id owns every session, task and note it creates."""

    key_id: str


async def runtime(request: Request) -> Runtime:
    # async on purpose: FastAPI runs a plain-def dependency in its thread pool on every
    # request, and that hop cost /health about a quarter of its throughput.
    rt: Runtime = request.app.state.runtime
    return rt


def identify(rt: Runtime, presented: str | None) -> Principal | None:
    if not rt.settings.auth_enabled:
        return Principal(OPEN_OWNER)
    if not presented:
        return None
    found: str | None = None
    candidate = presented.encode()
    # Compare against every key, so the time taken does not tell which one nearly matched.
    for key, key_id in rt.key_table.items():
        if hmac.compare_digest(candidate, key.encode()):
            found = key_id
    return Principal(found) if found else None


async def principal(
    request: Request,
    response: Response,
    rt: Annotated[Runtime, Depends(runtime)],
    key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    who = identify(rt, key)
    if who is None:
        raise ProblemError(
            401,
            "missing or invalid API key (X-API-Key header)",
            headers={"WWW-Authenticate": 'APIKey header="X-API-Key"'},
        )
    limit = rt.settings.rate_limit_for(who.key_id)
    decision = await rt.backends.limiter.hit(f"key:{who.key_id}", limit, RATE_WINDOW_SECONDS)
    headers = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.retry_after),
    }
    if not decision.allowed:
        raise ProblemError(
            429,
            f"rate limit of {limit} requests per minute exceeded",
            headers={"Retry-After": str(decision.retry_after), **headers},
        )
    response.headers.update(headers)
    return who


Caller = Annotated[Principal, Depends(principal)]
RuntimeDep = Annotated[Runtime, Depends(runtime)]
