"""Cache, RateLimiter and Signals contract, run against the in-memory and the Redis adapter."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests.stores.conftest import SignalStores

pytestmark = pytest.mark.timeout(60)


def key() -> str:
    return "k-" + uuid.uuid4().hex[:8]


async def test_cache_round_trip_and_miss(kv: SignalStores) -> None:
    k = key()
    assert await kv.cache.get(k) is None
    value = {"response": "héllo", "n": [1, 2.5, None, True], "nested": {"a": {}}}
    await kv.cache.set(k, value, 60)
    assert await kv.cache.get(k) == value
    await kv.cache.set(k, {"v": 2}, 60)
    assert await kv.cache.get(k) == {"v": 2}


async def test_cache_entries_expire(kv: SignalStores) -> None:
    k = key()
    await kv.cache.set(k, {"v": 1}, 1)
    assert await kv.cache.get(k) == {"v": 1}
    await asyncio.sleep(1.3)
    assert await kv.cache.get(k) is None


async def test_limiter_counts_within_a_window(kv: SignalStores) -> None:
    k = key()
    decisions = [await kv.limiter.hit(k, 3, 60) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
    assert all(d.limit == 3 for d in decisions)
    assert all(1 <= d.retry_after <= 60 for d in decisions)
    # Keys are independent.
    assert (await kv.limiter.hit(key(), 3, 60)).allowed


async def test_limiter_resets_in_the_next_window(kv: SignalStores) -> None:
    k = key()
    # Start just after a window boundary so both hits land in the same 2 s window.
    await asyncio.sleep(2 - time.time() % 2 + 0.05)
    assert (await kv.limiter.hit(k, 1, 2)).allowed
    denied = await kv.limiter.hit(k, 1, 2)
    assert not denied.allowed and 1 <= denied.retry_after <= 2
    await asyncio.sleep(denied.retry_after + 0.1)
    assert (await kv.limiter.hit(k, 1, 2)).allowed


async def test_concurrent_hits_are_all_counted(kv: SignalStores) -> None:
    k = key()
    decisions = await asyncio.gather(*(kv.limiter.hit(k, 10, 60) for _ in range(25)))
    assert sum(d.allowed for d in decisions) == 10


async def test_signals_reach_subscribers_of_the_channel_only(kv: SignalStores) -> None:
    ch, other = key(), key()
    async with kv.signals.subscribe(ch) as messages, kv.signals.subscribe(other) as others:
        await kv.signals.publish(ch, {"task": "t1", "n": 1})
        await kv.signals.publish(ch, {"task": "t1", "n": 2})
        it = aiter(messages)
        first = await asyncio.wait_for(anext(it), 5)
        second = await asyncio.wait_for(anext(it), 5)
        assert [first, second] == [{"task": "t1", "n": 1}, {"task": "t1", "n": 2}]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(aiter(others)), 0.3)


async def test_signals_fan_out_to_every_subscriber(kv: SignalStores) -> None:
    ch = key()
    async with kv.signals.subscribe(ch) as a, kv.signals.subscribe(ch) as b:
        await kv.signals.publish(ch, {"wake": True})
        assert await asyncio.wait_for(anext(aiter(a)), 5) == {"wake": True}
        assert await asyncio.wait_for(anext(aiter(b)), 5) == {"wake": True}


async def test_publish_without_subscribers_is_fine(kv: SignalStores) -> None:
    await kv.signals.publish(key(), {"nobody": "listens"})


async def test_subscription_survives_idle_periods(kv: SignalStores) -> None:
    ch = key()
    async with kv.signals.subscribe(ch) as messages:
        waiting = asyncio.ensure_future(anext(aiter(messages)))
        await asyncio.sleep(2.5)  # longer than the Redis client's socket timeout
        assert not waiting.done()
        await kv.signals.publish(ch, {"late": True})
        assert await asyncio.wait_for(waiting, 5) == {"late": True}
