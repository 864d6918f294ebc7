"""Chooses and opens the store adapters: Postgres/Redis when configured, in-memory otherwise."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from agent.settings import Settings
from agent.stores.base import (
    Cache,
    HealthCheck,
    NoteStore,
    RateLimiter,
    SessionStore,
    Signals,
    TaskQueue,
)
from agent.stores.memory import (
    MemoryCache,
    MemoryNoteStore,
    MemoryRateLimiter,
    MemorySessionStore,
    MemorySignals,
    MemoryTaskQueue,
)

log = logging.getLogger(__name__)


@dataclass
class Backends:
    sessions: SessionStore
    notes: NoteStore
    tasks: TaskQueue
    cache: Cache
    limiter: RateLimiter
    signals: Signals
    # What each part runs on, for /health and the start-up log: "memory", "postgres", "redis".
    kinds: dict[str, str]
    checks: list[HealthCheck] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            try:
                await close()
            except Exception:  # closing must not hide the shutdown of the rest
                log.exception("closing a backend failed")


def memory_backends() -> Backends:
    return Backends(
        sessions=MemorySessionStore(),
        notes=MemoryNoteStore(),
        tasks=MemoryTaskQueue(),
        cache=MemoryCache(),
        limiter=MemoryRateLimiter(),
        signals=MemorySignals(),
        kinds={"database": "memory", "cache": "memory"},
    )


async def open_backends(settings: Settings) -> Backends:
    backends = memory_backends()
    if settings.database_url is not None:
        from agent.stores.postgres import open_postgres

        await open_postgres(settings, backends)
    if settings.redis_url is not None:
        from agent.stores.redis import open_redis

        await open_redis(settings, backends)
    return backends
