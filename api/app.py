"""The FastAPI app factory and its lifespan (runtime, in-process workers, clean shutdown)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from agent import __version__
from agent.runtime import Runtime
from agent.server import on_shutdown_signal
from agent.settings import Settings, load_settings
from agent.tools import builtin as _builtin  # noqa: F401  (registers the built-ins)
from agent.tools import registry
from agent.worker import Worker
from api import errors
from api.errors import problems
from api.observability import BodyLimit, RequestContext
from api.routes import chat, health, sessions, tasks, tools

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    # Tools are known before the first request, so the contract can list them.
    registry.load_modules(settings.tool_modules)
    tool_names = sorted(t.name for t in registry.available(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = await Runtime.open(settings)
        app.state.runtime = rt
        facts = rt.describe()
        log.info("service starting", extra={"version": __version__, **facts})
        if settings.uses_emulator:
            log.warning("no GEMINI_API_KEY: the bundled Gemini emulator answers every request")
        if not settings.auth_enabled:
            log.warning("no API_KEYS: the API is open (development only)")
        stop = asyncio.Event()
        worker_job = None
        loop = asyncio.get_running_loop()
        # SIGTERM stops the in-process workers at once (their tasks go back to the queue for
        # other workers) while in-flight requests still drain.
        forget_signal = on_shutdown_signal(lambda: loop.call_soon_threadsafe(stop.set))
        if settings.run_workers:
            worker_job = asyncio.create_task(Worker(rt).run(stop))
        try:
            yield
        finally:
            forget_signal()
            stop.set()
            if worker_job is not None:
                await worker_job
            await rt.aclose()
            log.info("service stopped")

    app = FastAPI(
        title="gemini-agent",
        version=__version__,
        description="A Gemini agent with tools, session memory and durable background tasks. "
        "Errors are RFC 9457 problem documents.",
        lifespan=lifespan,
        responses=problems(400, 413),
    )
    errors.install(app)
    # Routes are matched in this order and no two routers share a path: the probes come
    # first, so the most frequent and cheapest requests skip matching every API route.
    for router in (health.router, chat.router, sessions.router, tasks.router, tools.router):
        app.include_router(router)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["X-API-Key", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = _tool_enum(errors.problem_openapi(schema), tool_names)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _tool_enum(schema: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Request `tools` lists may only name the tools enabled here."""
    components = schema.get("components", {}).get("schemas", {})
    for model in ("ChatRequest", "TaskRequest"):
        prop = components.get(model, {}).get("properties", {}).get("tools", {})
        for variant in prop.get("anyOf", [prop]):
            if variant.get("type") == "array":
                variant["items"] = {"type": "string", "enum": names}
    return schema
