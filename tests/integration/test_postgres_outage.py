"""Postgres going away: StoreUnavailable while it is down, the same pool works once it is
back (no reopening), and start-up waits a bounded time for it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from agent.backends import memory_backends
from agent.settings import Settings
from agent.stores.base import StoreUnavailable
from agent.stores.postgres import (
    PostgresHealth,
    PostgresSessionStore,
    PostgresTaskQueue,
    open_database,
    open_postgres,
)
from tests.real_services import PostgresServer

pytestmark = pytest.mark.timeout(180)


async def exercise(sessions: PostgresSessionStore, tasks: PostgresTaskQueue) -> str:
    s = await sessions.create("o", "t")
    await sessions.append_turn("o", s.id, {"role": "user", "parts": [{"text": "hi"}]})
    task, _ = await tasks.enqueue("o", "p", None, 3, max_attempts=3)
    return task.id


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_outage_raises_store_unavailable_then_pool_recovers(
    fresh_postgres: PostgresServer, how: str
) -> None:
    db = await open_database(fresh_postgres.dsn(), 2, 5)
    sessions, tasks, health = PostgresSessionStore(db), PostgresTaskQueue(db), PostgresHealth(db)
    try:
        before = await exercise(sessions, tasks)
        await health.ping()

        getattr(fresh_postgres, how)()
        calls = [
            health.ping(),
            sessions.create("o", "t"),
            sessions.list("o", 10, 0),
            tasks.claim("w", 30),
            tasks.get("o", before),
            tasks.sweep(),
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await call
            assert time.monotonic() - started < 8  # fails fast, no hanging request

        fresh_postgres.start()
        # The very same pool, no reopening: every call works again on the first try.
        await health.ping()
        after = await exercise(sessions, tasks)
        assert (await tasks.get("o", before)) is not None  # data survived the outage
        claimed = [await tasks.claim("w", 30), await tasks.claim("w", 30)]
        assert {t.id for t in claimed if t} == {before, after}
    finally:
        await db.close()


async def test_many_concurrent_requests_during_an_outage(fresh_postgres: PostgresServer) -> None:
    db = await open_database(fresh_postgres.dsn(), 1, 4)
    sessions = PostgresSessionStore(db)
    try:
        fresh_postgres.kill()
        results = await asyncio.gather(
            *(sessions.list("o", 5, 0) for _ in range(20)), return_exceptions=True
        )
        assert all(isinstance(r, StoreUnavailable) for r in results), results
        fresh_postgres.start()
        results = await asyncio.gather(*(sessions.list("o", 5, 0) for _ in range(20)))
        assert all(r == [] for r in results)
    finally:
        await db.close()


async def test_open_gives_up_after_the_deadline(fresh_postgres: PostgresServer) -> None:
    fresh_postgres.stop()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="still unreachable after 2s"):
        await open_database(fresh_postgres.dsn(), 1, 2, deadline=2)
    assert 1.5 < time.monotonic() - started < 10


async def test_open_waits_for_postgres_to_come_up(fresh_postgres: PostgresServer) -> None:
    fresh_postgres.stop()
    starter = threading.Timer(1.5, fresh_postgres.start)
    starter.start()
    try:
        backends = memory_backends()
        settings = Settings(database_url=fresh_postgres.dsn(), database_pool_max=3)
        started = time.monotonic()
        await open_postgres(settings, backends, deadline=30)
        assert time.monotonic() - started >= 1.0
        assert backends.kinds["database"] == "postgres"
        assert [c.name for c in backends.checks] == ["postgres"]
        assert isinstance(backends.tasks, PostgresTaskQueue)
        s = await backends.sessions.create("o", "t")
        assert (await backends.sessions.get("o", s.id)) is not None
        await backends.aclose()
        with pytest.raises(StoreUnavailable):  # a closed pool is "unavailable", not a crash
            await backends.sessions.get("o", s.id)
    finally:
        starter.join()


async def test_too_many_connections_is_unavailable_not_a_crash(
    fresh_postgres: PostgresServer,
) -> None:
    fresh_postgres.settings["max_connections"] = "4"
    fresh_postgres.restart()
    db = await open_database(fresh_postgres.dsn(), 0, 12)
    try:

        async def hold() -> str:
            try:
                async with db.connection() as conn:
                    await conn.execute("SELECT pg_sleep(1)")
                return "ok"
            except StoreUnavailable as exc:
                return str(exc)

        outcomes = await asyncio.gather(*(hold() for _ in range(10)))
        assert outcomes.count("ok") >= 1
        refused = [o for o in outcomes if o != "ok"]
        assert refused and all("TooManyConnections" in o for o in refused), outcomes
        # Once the crowd is gone the same pool serves again.
        assert await PostgresSessionStore(db).list("o", 5, 0) == []
    finally:
        await db.close()
