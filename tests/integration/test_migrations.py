"""Migrations: shipped in the package, applied once, safe when replicas start together."""

from __future__ import annotations

import asyncio
import threading
from importlib import resources

import asyncpg
import pytest

from agent.stores.base import StoreUnavailable
from agent.stores.postgres import migrate
from tests.real_services import PostgresServer

pytestmark = pytest.mark.timeout(120)


def test_migrations_are_package_data() -> None:
    names = sorted(
        p.name for p in resources.files("agent.migrations").iterdir() if p.name.endswith(".sql")
    )
    assert names and names[0] == "0001_init.sql"
    assert all(n[:4].isdigit() for n in names)


async def test_concurrent_migrations_apply_each_version_once(
    postgres_server: PostgresServer,
) -> None:
    dsn = postgres_server.create_database("mig")
    results = await asyncio.gather(*(migrate(dsn) for _ in range(5)))
    applied = [r for r in results if r]
    assert len(applied) == 1, results  # one replica applied, four found it done
    assert applied[0][0] == "0001_init"
    assert await migrate(dsn) == []
    conn = await asyncpg.connect(dsn)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
        assert versions == applied[0]
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        assert {"sessions", "session_turns", "notes", "tasks", "task_steps"} <= tables
        indexes = {
            r["indexname"]: r["indexdef"]
            for r in await conn.fetch("SELECT indexname, indexdef FROM pg_indexes")
        }
        assert "WHERE (status = 'queued'::text)" in indexes["tasks_queued_idx"]
        assert "UNIQUE" in indexes["tasks_owner_idempotency_key_idx"]
        assert "gin" in indexes["notes_search_idx"]
        assert "(owner, updated_at DESC" in indexes["sessions_owner_updated_idx"]
        assert "(owner, created_at DESC" in indexes["tasks_owner_created_idx"]
    finally:
        await conn.close()


async def test_claim_query_uses_the_partial_index(postgres_server: PostgresServer) -> None:
    dsn = postgres_server.create_database("plan")
    await migrate(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        # Many finished rows, few queued ones: the planner must reach for the partial index.
        await conn.execute(
            "INSERT INTO tasks (id, owner, prompt, max_steps, status, created_at, updated_at,"
            " max_attempts) SELECT 't' || i, 'o', 'p', 1,"
            " CASE WHEN i % 500 = 0 THEN 'queued' ELSE 'completed' END,"
            " now() - make_interval(secs => i), now(), 1 FROM generate_series(1, 20000) i"
        )
        await conn.execute("ANALYZE tasks")
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN SELECT id FROM tasks WHERE status = 'queued'"
                " ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
            )
        )
        assert "tasks_queued_idx" in plan, plan
    finally:
        await conn.close()


async def test_migrate_waits_for_the_database_when_asked(fresh_postgres: PostgresServer) -> None:
    fresh_postgres.stop()
    with pytest.raises(StoreUnavailable):  # without `wait`: one try, a clear error
        await migrate(fresh_postgres.dsn())
    starter = threading.Timer(1.0, fresh_postgres.start)
    starter.start()
    try:
        assert await migrate(fresh_postgres.dsn(), wait=30) == ["0001_init"]
    finally:
        starter.join()
