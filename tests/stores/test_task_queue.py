"""TaskQueue contract: idempotency, claim order, SKIP LOCKED, leases, attempts, cancel."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from agent.stores.base import IdempotencyConflict, LeaseLost
from tests.stores.conftest import DataStores

pytestmark = pytest.mark.timeout(120)

LOST = "worker lost (lease expired)"


def owner() -> str:
    return "owner-" + uuid.uuid4().hex[:8]


async def enqueue(stores: DataStores, who: str, prompt: str = "p", **kw: Any) -> Any:
    kw.setdefault("max_attempts", 3)
    task, _ = await stores.tasks.enqueue(who, prompt, None, 5, **kw)
    return task


async def test_enqueue_fields_and_owner_isolation(stores: DataStores) -> None:
    alice, bob = owner(), owner()
    task, created = await stores.tasks.enqueue(
        alice, "do it", ["calculator"], 7, max_attempts=2, session_id="s-1"
    )
    assert created is True
    assert (task.status, task.attempts, task.max_attempts) == ("queued", 0, 2)
    got = await stores.tasks.get(alice, task.id)
    assert got is not None
    assert (got.prompt, got.tools, got.max_steps, got.session_id) == (
        "do it",
        ["calculator"],
        7,
        "s-1",
    )
    assert await stores.tasks.get(bob, task.id) is None
    assert await stores.tasks.list(bob, 10, 0) == []
    assert await stores.tasks.request_cancel(bob, task.id) is None
    none_tools, _ = await stores.tasks.enqueue(alice, "x", None, 1, max_attempts=1)
    empty_tools, _ = await stores.tasks.enqueue(alice, "x", [], 1, max_attempts=1)
    assert (await stores.tasks.get(alice, none_tools.id)).tools is None
    assert (await stores.tasks.get(alice, empty_tools.id)).tools == []
    assert [t.id for t in await stores.tasks.list(alice, 10, 0)] == [
        empty_tools.id,
        none_tools.id,
        task.id,
    ]
    assert [t.id for t in await stores.tasks.list(alice, 1, 1)] == [none_tools.id]


async def test_idempotency_same_hash_same_task_other_hash_conflict(stores: DataStores) -> None:
    alice, bob = owner(), owner()
    first, created = await stores.tasks.enqueue(
        alice, "p", None, 5, max_attempts=3, idempotency_key="k1", request_hash="h1"
    )
    assert created is True
    again, created = await stores.tasks.enqueue(
        alice, "p", None, 5, max_attempts=3, idempotency_key="k1", request_hash="h1"
    )
    assert created is False and again.id == first.id
    with pytest.raises(IdempotencyConflict):
        await stores.tasks.enqueue(
            alice, "q", None, 5, max_attempts=3, idempotency_key="k1", request_hash="h2"
        )
    # Keys are per owner: Bob's k1 is a different task.
    other, created = await stores.tasks.enqueue(
        bob, "p", None, 5, max_attempts=3, idempotency_key="k1", request_hash="h1"
    )
    assert created is True and other.id != first.id
    assert await stores.tasks.depth() == 2


async def test_concurrent_enqueues_with_one_key_make_one_task(stores: DataStores) -> None:
    me = owner()
    results = await asyncio.gather(
        *(
            stores.tasks.enqueue(
                me, "p", None, 5, max_attempts=3, idempotency_key="race", request_hash="h"
            )
            for _ in range(10)
        )
    )
    assert len({t.id for t, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert await stores.tasks.depth() == 1


async def test_claim_takes_oldest_first_and_counts_attempts(stores: DataStores) -> None:
    me = owner()
    ids = [(await enqueue(stores, me, f"p{i}")).id for i in range(3)]
    assert await stores.tasks.depth() == 3
    claimed = []
    for _ in range(3):
        t = await stores.tasks.claim("w1", 30)
        assert t is not None
        assert (t.status, t.attempts, t.lease_owner) == ("running", 1, "w1")
        assert t.lease_expires_at is not None and t.lease_expires_at > t.updated_at
        claimed.append(t.id)
    assert claimed == ids
    assert await stores.tasks.claim("w1", 30) is None
    assert await stores.tasks.depth() == 0


async def test_concurrent_claims_never_return_the_same_task(stores: DataStores) -> None:
    me = owner()
    ids = {(await enqueue(stores, me, f"p{i}")).id for i in range(15)}
    got = await asyncio.gather(*(stores.tasks.claim(f"w{i}", 30) for i in range(30)))
    claimed = [t.id for t in got if t is not None]
    assert len(claimed) == len(set(claimed)) == 15
    assert set(claimed) == ids
    owners = {t.id: t.lease_owner for t in got if t is not None}
    for task_id, worker in owners.items():
        assert (await stores.tasks.get(me, task_id)).lease_owner == worker


async def test_steps_are_numbered_and_kept_verbatim(stores: DataStores) -> None:
    me = owner()
    await enqueue(stores, me)
    t = await stores.tasks.claim("w", 30)
    contents = [
        {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"x": 1.5}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]},
        {"role": "model", "parts": [{"text": "done", "thoughtSignature": "c2ln"}]},
    ]
    made = await asyncio.gather(
        *(stores.tasks.append_step(t.id, "w", c, tokens=i) for i, c in enumerate(contents))
    )
    assert sorted(s.seq for s in made) == [0, 1, 2]
    steps = await stores.tasks.steps(t.id)
    assert [s.seq for s in steps] == [0, 1, 2]
    assert sorted(map(repr, (s.content for s in steps))) == sorted(map(repr, contents))
    done = await stores.tasks.finish(
        t.id, "w", "completed", result="done", steps_taken=3, tokens_used=42
    )
    assert (done.status, done.result, done.steps_taken, done.tokens_used) == (
        "completed",
        "done",
        3,
        42,
    )
    assert done.lease_owner is None and done.lease_expires_at is None


async def test_expired_lease_is_swept_back_to_queue_then_fails_when_exhausted(
    stores: DataStores,
) -> None:
    me = owner()
    task = await enqueue(stores, me, max_attempts=2)
    first = await stores.tasks.claim("w1", 0.2)
    assert first.id == task.id and first.attempts == 1
    assert await stores.tasks.sweep() == []  # not expired yet
    await asyncio.sleep(0.4)
    assert await stores.tasks.sweep() == [task.id]
    back = await stores.tasks.get(me, task.id)
    assert (back.status, back.attempts, back.lease_owner) == ("queued", 1, None)
    assert back.error == LOST
    # The old worker lost the lease: every write is refused.
    with pytest.raises(LeaseLost):
        await stores.tasks.heartbeat(task.id, "w1", 30)
    with pytest.raises(LeaseLost):
        await stores.tasks.append_step(task.id, "w1", {"x": 1})
    with pytest.raises(LeaseLost):
        await stores.tasks.finish(task.id, "w1", "completed", result="late")
    second = await stores.tasks.claim("w2", 0.2)
    assert second.id == task.id and second.attempts == 2
    # w1 still cannot write while w2 holds it.
    with pytest.raises(LeaseLost):
        await stores.tasks.append_step(task.id, "w1", {"x": 1})
    await asyncio.sleep(0.4)
    assert await stores.tasks.sweep() == [task.id]
    failed = await stores.tasks.get(me, task.id)
    assert (failed.status, failed.attempts, failed.error) == ("failed", 2, LOST)
    assert await stores.tasks.claim("w3", 30) is None
    assert await stores.tasks.sweep() == []


async def test_heartbeat_extends_the_lease(stores: DataStores) -> None:
    me = owner()
    task = await enqueue(stores, me)
    claimed = await stores.tasks.claim("w", 0.3)
    beat = await stores.tasks.heartbeat(task.id, "w", 30)
    assert beat.lease_expires_at > claimed.lease_expires_at
    await asyncio.sleep(0.5)
    assert await stores.tasks.sweep() == []
    assert (await stores.tasks.get(me, task.id)).status == "running"
    with pytest.raises(LeaseLost):
        await stores.tasks.heartbeat(task.id, "someone-else", 30)


async def test_release_requeues_keeps_error_then_fails_when_exhausted(stores: DataStores) -> None:
    me = owner()
    task = await enqueue(stores, me, max_attempts=2)
    await stores.tasks.claim("w", 30)
    await stores.tasks.release(task.id, "other-worker", "ignored")  # not ours: no effect
    assert (await stores.tasks.get(me, task.id)).status == "running"
    await stores.tasks.release(task.id, "w", "model 503")
    t = await stores.tasks.get(me, task.id)
    assert (t.status, t.error, t.lease_owner) == ("queued", "model 503", None)
    await stores.tasks.claim("w", 30)
    await stores.tasks.release(task.id, "w", "model 503 again")
    t = await stores.tasks.get(me, task.id)
    assert (t.status, t.error, t.attempts) == ("failed", "model 503 again", 2)


async def test_release_without_error_keeps_the_previous_one(stores: DataStores) -> None:
    me = owner()
    task = await enqueue(stores, me, max_attempts=3)
    await stores.tasks.claim("w", 30)
    await stores.tasks.release(task.id, "w", "first")
    await stores.tasks.claim("w", 30)
    await stores.tasks.release(task.id, "w")
    t = await stores.tasks.get(me, task.id)
    assert (t.status, t.error) == ("queued", "first")


async def test_requeued_task_keeps_its_place(stores: DataStores) -> None:
    me = owner()
    old = await enqueue(stores, me, "old")
    await stores.tasks.claim("w", 30)
    new = await enqueue(stores, me, "new")
    await stores.tasks.release(old.id, "w")
    assert (await stores.tasks.claim("w", 30)).id == old.id
    assert (await stores.tasks.claim("w", 30)).id == new.id


async def test_cancel_queued_running_and_terminal(stores: DataStores) -> None:
    me = owner()
    queued = await enqueue(stores, me, "q")
    c = await stores.tasks.request_cancel(me, queued.id)
    assert (c.status, c.cancel_requested) == ("cancelled", True)
    assert await stores.tasks.claim("w", 30) is None  # cancelled never runs
    assert await stores.tasks.depth() == 0

    running = await enqueue(stores, me, "r")
    await stores.tasks.claim("w", 30)
    c = await stores.tasks.request_cancel(me, running.id)
    assert (c.status, c.cancel_requested) == ("running", True)
    # The worker still holds the lease and sees the request on its next heartbeat.
    assert (await stores.tasks.heartbeat(running.id, "w", 30)).cancel_requested is True
    await stores.tasks.release(running.id, "w", "stopping")
    assert (await stores.tasks.get(me, running.id)).status == "cancelled"

    done = await enqueue(stores, me, "d")
    await stores.tasks.claim("w", 30)
    await stores.tasks.finish(done.id, "w", "completed", result="ok")
    c = await stores.tasks.request_cancel(me, done.id)
    assert (c.status, c.cancel_requested, c.result) == ("completed", False, "ok")


async def test_cancel_requested_task_swept_is_cancelled_not_requeued(stores: DataStores) -> None:
    me = owner()
    task = await enqueue(stores, me)
    await stores.tasks.claim("w", 0.2)
    await stores.tasks.request_cancel(me, task.id)
    await asyncio.sleep(0.4)
    assert await stores.tasks.sweep() == [task.id]
    assert (await stores.tasks.get(me, task.id)).status == "cancelled"
    assert await stores.tasks.claim("w2", 30) is None


async def test_finish_after_cancel_request_still_records_outcome(stores: DataStores) -> None:
    me = owner()
    task = await enqueue(stores, me)
    await stores.tasks.claim("w", 30)
    await stores.tasks.request_cancel(me, task.id)
    done = await stores.tasks.finish(task.id, "w", "cancelled", error="cancelled by user")
    assert (done.status, done.error) == ("cancelled", "cancelled by user")
    with pytest.raises(LeaseLost):
        await stores.tasks.finish(task.id, "w", "completed")
