"""Postgres adapters: sessions, notes and the durable task queue (the source of truth).

Every operation maps connection failures to `StoreUnavailable` (the API answers 503 with
Retry-After) and the asyncpg pool reconnects by itself once Postgres is back. Lease times come
from the database clock, so replicas with skewed clocks agree on who holds a task.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

import asyncpg

from agent.stores.base import (
    JSON,
    IdempotencyConflict,
    LeaseLost,
    Note,
    Session,
    StoreUnavailable,
    Task,
    TaskStep,
    Turn,
)

if TYPE_CHECKING:
    from agent.backends import Backends
    from agent.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long start-up keeps retrying an unreachable database before giving up.
OPEN_DEADLINE_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 5.0
ACQUIRE_TIMEOUT_SECONDS = 10.0
COMMAND_TIMEOUT_SECONDS = 30.0
PING_TIMEOUT_SECONDS = 2.0
# Any constant shared by every replica works; this one spells "gemini-agent migrate".
MIGRATION_LOCK_ID = 0x6A6D_6967_7261_7465

# Failures that mean "the database is not reachable right now", as opposed to bugs or
# constraint violations: refused/reset sockets, timeouts, server shutdown or start-up, a
# closed pool, too many connections.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.InterfaceError,
)
# What start-up keeps retrying on.
_RETRYABLE: tuple[type[BaseException], ...] = (StoreUnavailable, *_UNAVAILABLE)

# The stubs make these generic over the record type; at run time they are plain classes.
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
Connection: TypeAlias = (
    "asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
)


def _dumps(value: Any) -> str:
    # NaN/Infinity are not JSON; refuse them here rather than store text nothing can parse.
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=_dumps, decoder=json.loads, schema="pg_catalog")


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"postgres unavailable: {type(exc).__name__}: {exc}")


class Database:
    """The pool plus the error mapping every adapter goes through."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        try:
            async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS) as conn:
                yield conn
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.pool.close(), timeout=10)
        except TimeoutError:
            self.pool.terminate()


class PostgresHealth:
    name = "postgres"

    def __init__(self, db: Database) -> None:
        self._db = db

    async def ping(self) -> None:
        try:
            async with asyncio.timeout(PING_TIMEOUT_SECONDS):
                async with self._db.connection() as conn:
                    await conn.fetchval("SELECT 1")
        except TimeoutError as exc:
            raise StoreUnavailable("postgres did not answer SELECT 1 in time") from exc


def _session(row: asyncpg.Record) -> Session:
    return Session(
        id=row["id"],
        owner=row["owner"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        turn_count=row["turn_count"],
    )


class PostgresSessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, owner: str, title: str) -> Session:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "INSERT INTO sessions (id, owner, title, created_at, updated_at)"
                " VALUES ($1, $2, $3, clock_timestamp(), clock_timestamp()) RETURNING *",
                str(uuid.uuid4()),
                owner,
                title,
            )
        assert row is not None
        return _session(row)

    async def get(self, owner: str, session_id: str) -> Session | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM sessions WHERE id = $1 AND owner = $2", session_id, owner
            )
        return None if row is None else _session(row)

    async def list(self, owner: str, limit: int, offset: int) -> list[Session]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT * FROM sessions WHERE owner = $1"
                " ORDER BY updated_at DESC, id DESC LIMIT $2 OFFSET $3",
                owner,
                limit,
                offset,
            )
        return [_session(r) for r in rows]

    async def delete(self, owner: str, session_id: str) -> bool:
        async with self._db.connection() as conn:
            done = await conn.execute(
                "DELETE FROM sessions WHERE id = $1 AND owner = $2", session_id, owner
            )
        return done != "DELETE 0"

    async def append_turn(
        self, owner: str, session_id: str, content: JSON, tokens: int = 0
    ) -> Turn:
        text = _dumps(content)
        async with self._db.connection() as conn:
            # One statement, one round trip, one transaction: the row lock the UPDATE takes
            # orders concurrent appends to one session and is held until the INSERT is done.
            row = await conn.fetchrow(
                "WITH bumped AS ("
                "  UPDATE sessions SET turn_count = turn_count + 1,"
                "   updated_at = clock_timestamp()"
                "  WHERE id = $1 AND owner = $2 RETURNING turn_count - 1 AS seq, updated_at"
                ") INSERT INTO session_turns (session_id, seq, owner, content, tokens, created_at)"
                " SELECT $1, seq, $2, $3::text::json, $4, updated_at FROM bumped"
                " RETURNING seq, created_at, tokens",
                session_id,
                owner,
                text,
                tokens,
            )
        if row is None:
            raise KeyError(session_id)
        return Turn(seq=row["seq"], content=content, created_at=row["created_at"], tokens=tokens)

    async def turns(
        self, owner: str, session_id: str, limit: int | None = None
    ) -> builtins.list[Turn]:
        if limit is not None and limit <= 0:
            limit = 0
        async with self._db.connection() as conn:
            found = await conn.fetchval(
                "SELECT 1 FROM sessions WHERE id = $1 AND owner = $2", session_id, owner
            )
            if found is None:
                raise KeyError(session_id)
            rows = await conn.fetch(
                "SELECT seq, content, created_at, tokens FROM ("
                "  SELECT * FROM session_turns WHERE session_id = $1 AND owner = $2"
                "  ORDER BY seq DESC LIMIT $3"
                ") last ORDER BY seq",
                session_id,
                owner,
                limit,
            )
        return [Turn(r["seq"], r["content"], r["created_at"], r["tokens"]) for r in rows]


_WORD = re.compile(r"\w+", re.UNICODE)


class PostgresNoteStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, owner: str, text: str) -> Note:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "INSERT INTO notes (id, owner, text, created_at)"
                " VALUES ($1, $2, $3, clock_timestamp()) RETURNING id, owner, text, created_at",
                str(uuid.uuid4()),
                owner,
                text,
            )
        assert row is not None
        return Note(row["id"], row["owner"], row["text"], row["created_at"])

    async def search(self, owner: str, query: str, limit: int) -> list[Note]:
        words = sorted({w.lower() for w in _WORD.findall(query)})
        async with self._db.connection() as conn:
            if not words:
                rows = await conn.fetch(
                    "SELECT id, owner, text, created_at FROM notes WHERE owner = $1"
                    " ORDER BY created_at DESC, id DESC LIMIT $2",
                    owner,
                    limit,
                )
            else:
                # Any word matches (the GIN index answers the OR query); the best note has
                # the most distinct query words, newest first among equals. Each word is a
                # quoted lexeme: \w+ never contains a quote, so nothing can escape it.
                tsquery = " | ".join(f"'{w}'" for w in words)
                rows = await conn.fetch(
                    "SELECT id, owner, text, created_at,"
                    "  (SELECT count(*) FROM unnest(tsvector_to_array(search)) AS l"
                    "   WHERE l = ANY($3::text[])) AS hits"
                    " FROM notes"
                    " WHERE owner = $1 AND search @@ to_tsquery('simple', $2)"
                    " ORDER BY hits DESC, created_at DESC, id DESC LIMIT $4",
                    owner,
                    tsquery,
                    words,
                    limit,
                )
        return [Note(r["id"], r["owner"], r["text"], r["created_at"]) for r in rows]


def _task(row: asyncpg.Record) -> Task:
    tools = row["tools"]
    return Task(
        id=row["id"],
        owner=row["owner"],
        prompt=row["prompt"],
        tools=None if tools is None else list(tools),
        max_steps=row["max_steps"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        result=row["result"],
        error=row["error"],
        steps_taken=row["steps_taken"],
        tokens_used=row["tokens_used"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        idempotency_key=row["idempotency_key"],
        request_hash=row["request_hash"],
        cancel_requested=row["cancel_requested"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        session_id=row["session_id"],
        metadata=row["metadata"],
    )


# Shared by release and sweep: cancel if asked, fail when attempts are spent, else re-queue.
# $err is the error to record: always when failing, and otherwise only when given.
_REQUEUE_OR_FAIL = """
    status = CASE WHEN cancel_requested THEN 'cancelled'
                  WHEN attempts >= max_attempts THEN 'failed'
                  ELSE 'queued' END,
    error = CASE WHEN NOT cancel_requested AND attempts >= max_attempts THEN {err}
                 ELSE coalesce({err}, error) END,
    lease_owner = NULL,
    lease_expires_at = NULL,
    updated_at = clock_timestamp()
"""


class PostgresTaskQueue:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue(
        self,
        owner: str,
        prompt: str,
        tools: list[str] | None,
        max_steps: int,
        *,
        max_attempts: int,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        session_id: str | None = None,
    ) -> tuple[Task, bool]:
        async with self._db.connection() as conn:
            # ON CONFLICT waits for a concurrent insert of the same key to commit, so two
            # racing requests end with one row and the loser reads it below.
            row = await conn.fetchrow(
                "INSERT INTO tasks (id, owner, prompt, tools, max_steps, status, created_at,"
                " updated_at, max_attempts, idempotency_key, request_hash, session_id)"
                " VALUES ($1, $2, $3, $4, $5, 'queued', clock_timestamp(), clock_timestamp(),"
                " $6, $7, $8, $9)"
                " ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL"
                " DO NOTHING RETURNING *",
                str(uuid.uuid4()),
                owner,
                prompt,
                tools,
                max_steps,
                max_attempts,
                idempotency_key,
                request_hash,
                session_id,
            )
            if row is not None:
                return _task(row), True
            existing = await conn.fetchrow(
                "SELECT * FROM tasks WHERE owner = $1 AND idempotency_key = $2",
                owner,
                idempotency_key,
            )
        assert existing is not None
        task = _task(existing)
        if task.request_hash != request_hash:
            raise IdempotencyConflict(idempotency_key)
        return task, False

    async def get(self, owner: str, task_id: str) -> Task | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM tasks WHERE id = $1 AND owner = $2", task_id, owner
            )
        return None if row is None else _task(row)

    async def list(self, owner: str, limit: int, offset: int) -> list[Task]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT * FROM tasks WHERE owner = $1"
                " ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
                owner,
                limit,
                offset,
            )
        return [_task(r) for r in rows]

    async def claim(self, worker_id: str, lease_seconds: float) -> Task | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "UPDATE tasks SET status = 'running', attempts = attempts + 1,"
                " lease_owner = $1,"
                " lease_expires_at = clock_timestamp() + make_interval(secs => $2),"
                " updated_at = clock_timestamp()"
                " WHERE id = (SELECT id FROM tasks WHERE status = 'queued'"
                "             ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                " AND status = 'queued' RETURNING *",
                worker_id,
                float(lease_seconds),
            )
        return None if row is None else _task(row)

    async def heartbeat(self, task_id: str, worker_id: str, lease_seconds: float) -> Task:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "UPDATE tasks SET"
                " lease_expires_at = clock_timestamp() + make_interval(secs => $3),"
                " updated_at = clock_timestamp()"
                " WHERE id = $1 AND status = 'running' AND lease_owner = $2 RETURNING *",
                task_id,
                worker_id,
                float(lease_seconds),
            )
        if row is None:
            raise LeaseLost(task_id)
        return _task(row)

    async def append_step(
        self, task_id: str, worker_id: str, content: JSON, tokens: int = 0
    ) -> TaskStep:
        text = _dumps(content)
        async with self._db.connection() as conn:
            # One statement: the UPDATE both checks the lease and locks the task row until the
            # INSERT is committed with it, so the sweeper cannot hand the task to another
            # worker between the check and the insert.
            row = await conn.fetchrow(
                "WITH bumped AS ("
                "  UPDATE tasks SET next_step = next_step + 1"
                "  WHERE id = $1 AND status = 'running' AND lease_owner = $2"
                "  RETURNING next_step - 1 AS seq, owner"
                ") INSERT INTO task_steps (task_id, seq, owner, content, tokens, created_at)"
                " SELECT $1, seq, owner, $3::text::json, $4, clock_timestamp() FROM bumped"
                " RETURNING seq, created_at",
                task_id,
                worker_id,
                text,
                tokens,
            )
        if row is None:
            raise LeaseLost(task_id)
        return TaskStep(task_id, row["seq"], content, row["created_at"], tokens)

    async def steps(self, task_id: str) -> builtins.list[TaskStep]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT seq, content, created_at, tokens FROM task_steps"
                " WHERE task_id = $1 ORDER BY seq",
                task_id,
            )
        return [
            TaskStep(task_id, r["seq"], r["content"], r["created_at"], r["tokens"]) for r in rows
        ]

    async def finish(
        self,
        task_id: str,
        worker_id: str,
        status: Literal["completed", "failed", "cancelled"],
        *,
        result: str | None = None,
        error: str | None = None,
        steps_taken: int = 0,
        tokens_used: int = 0,
    ) -> Task:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "UPDATE tasks SET status = $3, result = $4, error = $5, steps_taken = $6,"
                " tokens_used = $7, lease_owner = NULL, lease_expires_at = NULL,"
                " updated_at = clock_timestamp()"
                " WHERE id = $1 AND status = 'running' AND lease_owner = $2 RETURNING *",
                task_id,
                worker_id,
                status,
                result,
                error,
                steps_taken,
                tokens_used,
            )
        if row is None:
            raise LeaseLost(task_id)
        return _task(row)

    async def release(self, task_id: str, worker_id: str, error: str | None = None) -> None:
        async with self._db.connection() as conn:
            await conn.execute(
                "UPDATE tasks SET "  # noqa: S608 (a constant; values are parameters)
                + _REQUEUE_OR_FAIL.format(err="$3::text")
                + " WHERE id = $1 AND status = 'running' AND lease_owner = $2",
                task_id,
                worker_id,
                error,
            )

    async def request_cancel(self, owner: str, task_id: str) -> Task | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "UPDATE tasks SET"
                " status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,"
                " cancel_requested = cancel_requested OR status IN ('queued', 'running'),"
                " updated_at = CASE WHEN status IN ('queued', 'running')"
                "                   THEN clock_timestamp() ELSE updated_at END"
                " WHERE id = $1 AND owner = $2 RETURNING *",
                task_id,
                owner,
            )
        return None if row is None else _task(row)

    async def sweep(self) -> builtins.list[str]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "UPDATE tasks SET "  # noqa: S608 (a constant; values are parameters)
                + _REQUEUE_OR_FAIL.format(err="$1::text")
                + " WHERE status = 'running' AND lease_expires_at < clock_timestamp()"
                " RETURNING id",
                "worker lost (lease expired)",
            )
        return [r["id"] for r in rows]

    async def depth(self) -> int:
        async with self._db.connection() as conn:
            n: int = await conn.fetchval("SELECT count(*) FROM tasks WHERE status = 'queued'")
        return n


def _migration_files() -> list[tuple[str, str]]:
    folder = resources.files("agent.migrations")
    files = sorted(
        (entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    )
    return files


async def migrate(dsn: str, *, wait: float = 0.0) -> list[str]:
    """Apply the migrations not yet recorded in schema_migrations; returns their versions.

    One transaction under a transaction-scoped advisory lock: replicas starting together
    queue on the lock, and the later ones find everything applied. With `wait`, keep
    retrying that long while Postgres is unreachable (a one-shot job started with it).
    """
    if wait > 0:
        return await _retrying(wait, lambda: _migrate_once(dsn))
    return await _migrate_once(dsn)


async def _migrate_once(dsn: str) -> list[str]:
    try:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_SECONDS)
    except _UNAVAILABLE as exc:
        raise _unavailable(exc) from exc
    applied: list[str] = []
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_ID)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, sql in _migration_files():
                if version in done:
                    continue
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                applied.append(version)
    except _UNAVAILABLE as exc:
        raise _unavailable(exc) from exc
    finally:
        await conn.close()
    if applied:
        log.info("applied migrations", extra={"versions": applied})
    return applied


async def _retrying(deadline: float, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run `attempt` until it stops failing for lack of a database, for at most `deadline`
    seconds, with exponential backoff; then StoreUnavailable with the last reason."""
    give_up = time.monotonic() + deadline
    delay = 0.25
    while True:
        try:
            return await attempt()
        except _RETRYABLE as exc:
            left = give_up - time.monotonic()
            if left <= 0:
                raise StoreUnavailable(
                    f"postgres still unreachable after {deadline:g}s: {exc}"
                ) from exc
            log.warning("postgres not reachable yet, retrying: %s", exc)
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, 4.0)


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Release a connection without asyncpg's default reset query.

    The adapters leave no session state behind (no SET, LISTEN, cursors or session-level
    advisory locks), and asyncpg still rolls back an unfinished transaction before calling
    this. The default `RESET ALL; UNLISTEN *; ...` costs a round trip on every release:
    about one in three statements a task runs.
    """


async def create_pool(dsn: str, min_size: int, max_size: int) -> Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        timeout=CONNECT_TIMEOUT_SECONDS,
        command_timeout=COMMAND_TIMEOUT_SECONDS,
        # Recycle idle connections so a restarted server or a proxy's idle cut-off is
        # noticed on a fresh connection rather than on a stale one.
        max_inactive_connection_lifetime=60.0,
        server_settings={"application_name": "gemini-agent"},
        reset=_keep_session,
    )
    return pool


async def open_database(
    dsn: str, min_size: int, max_size: int, *, deadline: float = OPEN_DEADLINE_SECONDS
) -> Database:
    """Migrate and open the pool, retrying with backoff while Postgres is unreachable."""

    async def attempt() -> Database:
        await _migrate_once(dsn)
        return Database(await create_pool(dsn, min_size, max_size))

    return await _retrying(deadline, attempt)


async def open_postgres(
    settings: Settings, backends: Backends, *, deadline: float = OPEN_DEADLINE_SECONDS
) -> Database:
    assert settings.database_url is not None
    db = await open_database(
        settings.database_url.get_secret_value(),
        settings.database_pool_min,
        settings.database_pool_max,
        deadline=deadline,
    )
    backends.sessions = PostgresSessionStore(db)
    backends.notes = PostgresNoteStore(db)
    backends.tasks = PostgresTaskQueue(db)
    backends.kinds["database"] = "postgres"
    backends.checks.append(PostgresHealth(db))
    backends.closers.append(db.close)
    return db


__all__ = [
    "Database",
    "PostgresHealth",
    "PostgresNoteStore",
    "PostgresSessionStore",
    "PostgresTaskQueue",
    "migrate",
    "open_postgres",
]
