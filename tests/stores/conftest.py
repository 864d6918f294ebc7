"""Every store protocol gets one fixture parametrized over [memory, real] adapters, so the
same behavioural tests hold both to one contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from agent.stores.memory import (
    MemoryCache,
    MemoryNoteStore,
    MemoryRateLimiter,
    MemorySessionStore,
    MemorySignals,
    MemoryTaskQueue,
)
from agent.stores.postgres import (
    Database,
    PostgresNoteStore,
    PostgresSessionStore,
    PostgresTaskQueue,
    open_database,
)
from agent.stores.redis import RedisCache, RedisLink, RedisRateLimiter, RedisSignals, connect
from tests.real_services import *  # noqa: F403 (the server fixtures)
from tests.real_services import PostgresServer, RedisServer


@dataclass
class DataStores:
    kind: str
    sessions: Any
    notes: Any
    tasks: Any


@dataclass
class SignalStores:
    kind: str
    cache: Any
    limiter: Any
    signals: Any


@pytest.fixture(scope="session")
async def pg_database(postgres_server: PostgresServer) -> AsyncIterator[Database]:
    db = await open_database(postgres_server.create_database("stores"), 1, 10)
    yield db
    await db.close()


@pytest.fixture(scope="session")
async def redis_link(redis_server: RedisServer) -> AsyncIterator[RedisLink]:
    link = RedisLink(connect(redis_server.url))
    yield link
    await link.close()


@pytest.fixture
async def pg_clean(pg_database: Database) -> Database:
    """The shared database, emptied: each test starts from nothing."""
    async with pg_database.connection() as conn:
        await conn.execute("TRUNCATE sessions, session_turns, notes, tasks, task_steps")
    return pg_database


@pytest.fixture
async def redis_clean(redis_link: RedisLink) -> RedisLink:
    await redis_link.client.flushdb()
    return redis_link


# Plain fixtures that pull the real servers in only for the real parameter, so the memory
# half runs on a machine without Postgres or Redis.
@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.integration)])
def stores(request: pytest.FixtureRequest) -> DataStores:
    if request.param == "memory":
        return DataStores("memory", MemorySessionStore(), MemoryNoteStore(), MemoryTaskQueue())
    db: Database = request.getfixturevalue("pg_clean")
    return DataStores(
        "postgres", PostgresSessionStore(db), PostgresNoteStore(db), PostgresTaskQueue(db)
    )


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def kv(request: pytest.FixtureRequest) -> SignalStores:
    if request.param == "memory":
        return SignalStores("memory", MemoryCache(), MemoryRateLimiter(), MemorySignals())
    link: RedisLink = request.getfixturevalue("redis_clean")
    return SignalStores("redis", RedisCache(link), RedisRateLimiter(link), RedisSignals(link))
