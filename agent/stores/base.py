"""Store interfaces shared by the in-memory and the Postgres/Redis adapters.

Routes, the step loop and the worker only ever see these protocols, so the embedded default
and production run the same code. Every row carries its owner (the API key id); a lookup with
another owner behaves exactly like a missing row.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

JSON = dict[str, Any]
TaskStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


class StoreUnavailable(Exception):
    """A backing service (Postgres, Redis) cannot be reached; the API answers 503."""


class IdempotencyConflict(Exception):
    """An Idempotency-Key was reused by the same owner with a different request body."""


class LeaseLost(Exception):
    """The worker no longer holds the task's lease (expired and swept, or cancelled)."""


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    owner: str
    title: str
    created_at: datetime
    updated_at: datetime
    turn_count: int = 0


@dataclass(frozen=True, slots=True)
class Turn:
    """One model or user turn, kept verbatim as the JSON of a google-genai `Content`."""

    seq: int
    content: JSON
    created_at: datetime
    tokens: int = 0


@dataclass(frozen=True, slots=True)
class Note:
    id: str
    owner: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    owner: str
    prompt: str
    tools: list[str] | None
    max_steps: int
    status: TaskStatus
    created_at: datetime
    updated_at: datetime
    result: str | None = None
    error: str | None = None
    steps_taken: int = 0
    tokens_used: int = 0
    attempts: int = 0
    max_attempts: int = 3
    idempotency_key: str | None = None
    request_hash: str | None = None
    cancel_requested: bool = False
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    session_id: str | None = None
    metadata: JSON = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TaskStep:
    """A persisted turn of a task's step loop; `seq` orders them from 0."""

    task_id: str
    seq: int
    content: JSON
    created_at: datetime
    tokens: int = 0


class SessionStore(Protocol):
    async def create(self, owner: str, title: str) -> Session: ...

    async def get(self, owner: str, session_id: str) -> Session | None: ...

    async def list(self, owner: str, limit: int, offset: int) -> builtins.list[Session]: ...

    async def delete(self, owner: str, session_id: str) -> bool: ...

    async def append_turn(
        self, owner: str, session_id: str, content: JSON, tokens: int = 0
    ) -> Turn: ...

    async def turns(
        self, owner: str, session_id: str, limit: int | None = None
    ) -> builtins.list[Turn]:
        """The session's turns in order; with `limit`, only the last `limit` of them."""
        ...


class NoteStore(Protocol):
    async def add(self, owner: str, text: str) -> Note: ...

    async def search(self, owner: str, query: str, limit: int) -> builtins.list[Note]:
        """Notes matching the words of `query` (best first); an empty query lists the newest."""
        ...


class TaskQueue(Protocol):
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
        """Store a queued task. With a known idempotency key and the same request hash,
        return the existing task and False; with a different hash raise IdempotencyConflict."""
        ...

    async def get(self, owner: str, task_id: str) -> Task | None: ...

    async def list(self, owner: str, limit: int, offset: int) -> builtins.list[Task]: ...

    async def claim(self, worker_id: str, lease_seconds: float) -> Task | None:
        """Take the oldest queued task (SKIP LOCKED semantics), counting an attempt."""
        ...

    async def heartbeat(self, task_id: str, worker_id: str, lease_seconds: float) -> Task:
        """Extend the lease; raises LeaseLost if another worker or the sweeper took it."""
        ...

    async def append_step(
        self, task_id: str, worker_id: str, content: JSON, tokens: int = 0
    ) -> TaskStep:
        """Persist one turn of the loop; raises LeaseLost if the lease is not ours."""
        ...

    async def steps(self, task_id: str) -> builtins.list[TaskStep]: ...

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
        """Move a running task to a terminal state; raises LeaseLost if not ours."""
        ...

    async def release(self, task_id: str, worker_id: str, error: str | None = None) -> None:
        """Give a running task back to the queue now (shutdown, retryable error); if its
        attempts are exhausted it fails with `error` instead."""
        ...

    async def request_cancel(self, owner: str, task_id: str) -> Task | None:
        """Queued -> cancelled at once; running -> cancel_requested (the worker stops within
        one step); terminal -> unchanged. None when the task is not the owner's."""
        ...

    async def sweep(self) -> builtins.list[str]:
        """Return running tasks whose lease expired to the queue (or fail them when their
        attempts are exhausted); returns the ids touched."""
        ...

    async def depth(self) -> int:
        """Number of queued tasks."""
        ...


class Cache(Protocol):
    async def get(self, key: str) -> JSON | None: ...

    async def set(self, key: str, value: JSON, ttl_seconds: int) -> None: ...


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds until the window resets


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision: ...


class Signals(Protocol):
    """Fire-and-forget messages between replicas (wake-ups, task progress, cancellation)."""

    async def publish(self, channel: str, message: JSON) -> None: ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[JSON]]:
        """`async with signals.subscribe(ch) as messages: async for m in messages: ...`"""
        ...


class HealthCheck(Protocol):
    name: str

    async def ping(self) -> None:
        """Raise when the dependency is unreachable."""
        ...
