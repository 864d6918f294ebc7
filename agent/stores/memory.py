"""In-memory adapters: the embedded default and the twin the real adapters are tested against.

They keep the semantics of the Postgres/Redis adapters (owners, leases, attempts, idempotency)
so the one behavioural suite in tests/ passes against both.
"""

from __future__ import annotations

import asyncio
import builtins
import re
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from agent.stores.base import (
    JSON,
    TERMINAL,
    IdempotencyConflict,
    LeaseLost,
    Note,
    RateDecision,
    Session,
    Task,
    TaskStep,
    Turn,
)


def _now() -> datetime:
    return datetime.now(UTC)


class MemorySessionStore:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._turns: dict[str, list[Turn]] = defaultdict(list)

    async def create(self, owner: str, title: str) -> Session:
        now = _now()
        s = Session(id=str(uuid.uuid4()), owner=owner, title=title, created_at=now, updated_at=now)
        self._sessions[s.id] = s
        return s

    async def get(self, owner: str, session_id: str) -> Session | None:
        s = self._sessions.get(session_id)
        if s is None or s.owner != owner:
            return None
        return replace(s, turn_count=len(self._turns[session_id]))

    async def list(self, owner: str, limit: int, offset: int) -> builtins.list[Session]:
        mine = [s for s in self._sessions.values() if s.owner == owner]
        mine.sort(key=lambda s: (s.updated_at, s.id), reverse=True)
        return [
            replace(s, turn_count=len(self._turns[s.id])) for s in mine[offset : offset + limit]
        ]

    async def delete(self, owner: str, session_id: str) -> bool:
        if await self.get(owner, session_id) is None:
            return False
        del self._sessions[session_id]
        self._turns.pop(session_id, None)
        return True

    async def append_turn(
        self, owner: str, session_id: str, content: JSON, tokens: int = 0
    ) -> Turn:
        s = await self.get(owner, session_id)
        if s is None:
            raise KeyError(session_id)
        turns = self._turns[session_id]
        t = Turn(seq=len(turns), content=content, created_at=_now(), tokens=tokens)
        turns.append(t)
        self._sessions[session_id] = replace(s, updated_at=t.created_at)
        return t

    async def turns(
        self, owner: str, session_id: str, limit: int | None = None
    ) -> builtins.list[Turn]:
        if await self.get(owner, session_id) is None:
            raise KeyError(session_id)
        turns = self._turns[session_id]
        return list(turns if limit is None else turns[-limit:] if limit else [])


_WORD = re.compile(r"\w+", re.UNICODE)


class MemoryNoteStore:
    def __init__(self) -> None:
        self._notes: list[Note] = []

    async def add(self, owner: str, text: str) -> Note:
        n = Note(id=str(uuid.uuid4()), owner=owner, text=text, created_at=_now())
        self._notes.append(n)
        return n

    async def search(self, owner: str, query: str, limit: int) -> builtins.list[Note]:
        mine = [n for n in reversed(self._notes) if n.owner == owner]
        words = {w.lower() for w in _WORD.findall(query)}
        if not words:
            return mine[:limit]
        scored = []
        for n in mine:
            hits = len(words & {w.lower() for w in _WORD.findall(n.text)})
            if hits:
                scored.append((hits, n))
        scored.sort(key=lambda p: p[0], reverse=True)  # stable: newest first among equals
        return [n for _, n in scored[:limit]]


class MemoryTaskQueue:
    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._steps: dict[str, list[TaskStep]] = defaultdict(list)
        self._keys: dict[tuple[str, str], str] = {}
        self._lock = asyncio.Lock()

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
        async with self._lock:
            if idempotency_key is not None:
                existing_id = self._keys.get((owner, idempotency_key))
                if existing_id is not None:
                    existing = self._tasks[existing_id]
                    if existing.request_hash != request_hash:
                        raise IdempotencyConflict(idempotency_key)
                    return existing, False
            now = _now()
            t = Task(
                id=str(uuid.uuid4()),
                owner=owner,
                prompt=prompt,
                tools=tools,
                max_steps=max_steps,
                status="queued",
                created_at=now,
                updated_at=now,
                max_attempts=max_attempts,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
                session_id=session_id,
            )
            self._tasks[t.id] = t
            if idempotency_key is not None:
                self._keys[(owner, idempotency_key)] = t.id
            return t, True

    async def get(self, owner: str, task_id: str) -> Task | None:
        t = self._tasks.get(task_id)
        return t if t is not None and t.owner == owner else None

    async def list(self, owner: str, limit: int, offset: int) -> builtins.list[Task]:
        mine = [t for t in self._tasks.values() if t.owner == owner]
        mine.sort(key=lambda t: (t.created_at, t.id), reverse=True)
        return mine[offset : offset + limit]

    async def claim(self, worker_id: str, lease_seconds: float) -> Task | None:
        async with self._lock:
            queued = [t for t in self._tasks.values() if t.status == "queued"]
            if not queued:
                return None
            t = min(queued, key=lambda t: (t.created_at, t.id))
            now = _now()
            t = replace(
                t,
                status="running",
                attempts=t.attempts + 1,
                lease_owner=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
            self._tasks[t.id] = t
            return t

    def _owned(self, task_id: str, worker_id: str) -> Task:
        t = self._tasks.get(task_id)
        if t is None or t.status != "running" or t.lease_owner != worker_id:
            raise LeaseLost(task_id)
        return t

    async def heartbeat(self, task_id: str, worker_id: str, lease_seconds: float) -> Task:
        async with self._lock:
            t = self._owned(task_id, worker_id)
            now = _now()
            t = replace(t, lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
            self._tasks[task_id] = t
            return t

    async def append_step(
        self, task_id: str, worker_id: str, content: JSON, tokens: int = 0
    ) -> TaskStep:
        async with self._lock:
            self._owned(task_id, worker_id)
            steps = self._steps[task_id]
            s = TaskStep(task_id, len(steps), content, _now(), tokens)
            steps.append(s)
            return s

    async def steps(self, task_id: str) -> builtins.list[TaskStep]:
        return list(self._steps.get(task_id, []))

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
        async with self._lock:
            t = self._owned(task_id, worker_id)
            t = replace(
                t,
                status=status,
                result=result,
                error=error,
                steps_taken=steps_taken,
                tokens_used=tokens_used,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=_now(),
            )
            self._tasks[task_id] = t
            return t

    def _requeue_or_fail(self, t: Task, error: str | None) -> Task:
        if t.cancel_requested:
            status: Literal["queued", "failed", "cancelled"] = "cancelled"
        elif t.attempts >= t.max_attempts:
            status = "failed"
        else:
            status = "queued"
        return replace(
            t,
            status=status,
            error=error if status == "failed" else t.error if error is None else error,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=_now(),
        )

    async def release(self, task_id: str, worker_id: str, error: str | None = None) -> None:
        async with self._lock:
            t = self._tasks.get(task_id)
            if t is None or t.status != "running" or t.lease_owner != worker_id:
                return
            self._tasks[task_id] = self._requeue_or_fail(t, error)

    async def request_cancel(self, owner: str, task_id: str) -> Task | None:
        async with self._lock:
            t = self._tasks.get(task_id)
            if t is None or t.owner != owner:
                return None
            if t.status == "queued":
                t = replace(t, status="cancelled", cancel_requested=True, updated_at=_now())
            elif t.status == "running":
                t = replace(t, cancel_requested=True, updated_at=_now())
            self._tasks[task_id] = t
            return t

    async def sweep(self) -> builtins.list[str]:
        async with self._lock:
            now = _now()
            touched = []
            for t in list(self._tasks.values()):
                if (
                    t.status == "running"
                    and t.lease_expires_at is not None
                    and t.lease_expires_at < now
                ):
                    self._tasks[t.id] = self._requeue_or_fail(t, "worker lost (lease expired)")
                    touched.append(t.id)
            return touched

    async def depth(self) -> int:
        return sum(1 for t in self._tasks.values() if t.status == "queued")

    def is_terminal(self, task_id: str) -> bool:
        t = self._tasks.get(task_id)
        return t is not None and t.status in TERMINAL


class MemoryCache:
    def __init__(self, max_items: int = 10_000) -> None:
        self._items: dict[str, tuple[float, JSON]] = {}
        self._max = max_items

    async def get(self, key: str) -> JSON | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        return item[1]

    async def set(self, key: str, value: JSON, ttl_seconds: int) -> None:
        if len(self._items) >= self._max:
            self._items.pop(next(iter(self._items)))  # oldest insertion first
        self._items[key] = (time.monotonic() + ttl_seconds, value)


class MemoryRateLimiter:
    """Fixed-window counter per key, the same policy as the Redis adapter."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        now = time.time()
        window = int(now // window_seconds)
        start, count = self._windows.get(key, (window, 0))
        if start != window:
            count = 0
        count += 1
        self._windows[key] = (window, count)
        if len(self._windows) > 100_000:  # drop stale windows so idle keys cost nothing
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        retry_after = max(1, int((window + 1) * window_seconds - now + 0.999))
        return RateDecision(count <= limit, limit, max(0, limit - count), retry_after)


class MemorySignals:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[JSON]]] = defaultdict(set)

    async def publish(self, channel: str, message: JSON) -> None:
        for q in list(self._subscribers.get(channel, ())):
            q.put_nowait(message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[JSON]]:
        q: asyncio.Queue[JSON] = asyncio.Queue()
        self._subscribers[channel].add(q)

        async def messages() -> AsyncIterator[JSON]:
            while True:
                yield await q.get()

        try:
            yield messages()
        finally:
            self._subscribers[channel].discard(q)
            if not self._subscribers[channel]:
                del self._subscribers[channel]
