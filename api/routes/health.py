"""/health (liveness and what the service runs on), /ready (dependencies), /metrics."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agent import __version__
from agent.logs import request_id_var
from agent.runtime import Runtime
from api.auth import RuntimeDep
from api.errors import PROBLEM_TYPE, Problem
from api.schemas import Check, Health, Ready

router = APIRouter(tags=["operations"])

# Checks that make the service not ready when they fail; the others only degrade it.
REQUIRED = {"postgres"}
CHECK_TIMEOUT = 2.0


class NotReady(Problem):
    checks: dict[str, Check]


def _health(rt: Runtime) -> Health:
    facts = rt.describe()
    notices = []
    if rt.settings.uses_emulator:
        notices.append("no GEMINI_API_KEY: answers come from the bundled Gemini emulator")
    if not rt.settings.auth_enabled:
        notices.append("no API_KEYS: the API is open to anyone who can reach it")
    if facts.get("database") == "memory":
        notices.append("no DATABASE_URL: sessions and tasks live in memory and vanish on exit")
    return Health(
        status="healthy",
        version=__version__,
        environment=rt.settings.environment,
        model=facts["model"],
        model_backend="emulator" if rt.settings.uses_emulator else "gemini",
        auth=facts["auth"],
        database=facts.get("database", "memory"),
        cache=facts.get("cache", "memory"),
        notices=notices,
    )


@router.get(
    "/health",
    operation_id="health",
    summary="Liveness, and what this process runs on",
    response_model=Health,
)
async def health(request: Request) -> Response:
    # Probes call this all the time and its facts are fixed for the life of the process: the
    # body is built once, and returning a Response skips per-call validation and encoding.
    body: bytes | None = getattr(request.app.state, "health_body", None)
    if body is None:
        body = _health(request.app.state.runtime).model_dump_json().encode()
        request.app.state.health_body = body
    return Response(body, media_type="application/json")


@router.get(
    "/ready",
    operation_id="ready",
    summary="Readiness: 200 when every required dependency answers",
    responses={
        503: {
            "model": NotReady,
            "description": "A required dependency is down",
            "headers": {
                "Retry-After": {"schema": {"type": "integer", "minimum": 0}, "required": True}
            },
        }
    },
)
async def ready(request: Request, rt: RuntimeDep) -> Response:
    async def run(check_name: str, ping: object) -> tuple[str, Check]:
        required = check_name in REQUIRED
        try:
            await asyncio.wait_for(ping(), CHECK_TIMEOUT)  # type: ignore[operator]
        except Exception as exc:
            return check_name, Check(
                status="down" if required else "degraded",
                detail=f"{type(exc).__name__}: {exc}"[:500],
                required=required,
            )
        return check_name, Check(status="ok", required=required)

    results = dict(await asyncio.gather(*(run(c.name, c.ping) for c in rt.backends.checks)))
    for name, kind in rt.backends.kinds.items():
        results.setdefault(name, Check(status="ok", detail=f"in-memory ({kind})", required=False))
    down = [n for n, c in results.items() if c.status == "down"]
    if down:
        body = NotReady(
            title="Service Unavailable",
            status=503,
            detail="not ready: " + ", ".join(sorted(down)) + " unavailable",
            instance=request.url.path,
            request_id=request_id_var.get(),
            checks=results,
        )
        return JSONResponse(
            body.model_dump(mode="json", exclude_none=True),
            status_code=503,
            media_type=PROBLEM_TYPE,
            headers={"Retry-After": "5"},
        )
    return JSONResponse(Ready(status="ready", checks=results).model_dump(mode="json"))


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {
                CONTENT_TYPE_LATEST: {"schema": {"type": "string", "maxLength": 50_000_000}}
            }
        }
    },
)
async def metrics(rt: RuntimeDep) -> Response:
    from agent import metrics as agent_metrics

    # The gauge keeps its last sample when the store is down; /metrics must not fail.
    with contextlib.suppress(Exception):
        agent_metrics.QUEUE_DEPTH.set(await rt.backends.tasks.depth())
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
