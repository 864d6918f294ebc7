"""Redis going away: cache bypassed, limiter per replica, publishes dropped, nothing raises;
Redis back: the shared path is used again, without reopening anything."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from agent.backends import Backends, memory_backends
from agent.settings import Settings
from agent.stores.base import StoreUnavailable
from agent.stores.redis import RETRY_PAUSE_SECONDS, RedisCache, open_redis
from tests.real_services import RedisServer

pytestmark = pytest.mark.timeout(120)


async def replica(server: RedisServer) -> Backends:
    backends = memory_backends()
    await open_redis(Settings(redis_url=server.url), backends)
    return backends


async def wait_until_used_again(backends: Backends) -> None:
    """Past the retry pause the next call reaches Redis again."""
    await asyncio.sleep(RETRY_PAUSE_SECONDS + 0.1)
    await backends.checks[0].ping()


async def test_open_redis_wires_the_adapters(fresh_redis: RedisServer) -> None:
    backends = await replica(fresh_redis)
    try:
        assert backends.kinds["cache"] == "redis"
        assert isinstance(backends.cache, RedisCache)
        assert [c.name for c in backends.checks] == ["redis"]
        await backends.checks[0].ping()
    finally:
        await backends.aclose()


async def test_shared_limit_across_replicas(fresh_redis: RedisServer) -> None:
    a, b = await replica(fresh_redis), await replica(fresh_redis)
    try:
        key = uuid.uuid4().hex
        decisions = []
        for i in range(8):
            decisions.append(await (a if i % 2 else b).limiter.hit(key, 5, 60))
        assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
        await a.cache.set("shared", {"v": 1}, 60)
        assert await b.cache.get("shared") == {"v": 1}
    finally:
        await a.aclose()
        await b.aclose()


async def test_redis_killed_then_back(fresh_redis: RedisServer) -> None:
    backends = await replica(fresh_redis)
    try:
        await backends.cache.set("k", {"v": 1}, 60)
        assert await backends.cache.get("k") == {"v": 1}
        key = uuid.uuid4().hex
        assert (await backends.limiter.hit(key, 3, 60)).allowed

        fresh_redis.kill()
        # Cache bypassed, no exception; each call returns at once.
        started = time.monotonic()
        assert await backends.cache.get("k") is None
        await backends.cache.set("k2", {"v": 2}, 60)
        assert await backends.cache.get("k2") is None
        await backends.signals.publish("ch", {"x": 1})
        # The limiter still limits, per replica, from its own count.
        local = [await backends.limiter.hit(key, 3, 60) for _ in range(4)]
        assert [d.allowed for d in local] == [True, True, True, False]
        assert time.monotonic() - started < 3
        with pytest.raises(StoreUnavailable):
            await backends.checks[0].ping()
        # Even past the retry pause, a dead Redis only costs a refused connection.
        await asyncio.sleep(RETRY_PAUSE_SECONDS + 0.1)
        assert await backends.cache.get("k") is None
        assert not (await backends.limiter.hit(key, 3, 60)).allowed

        fresh_redis.start()  # empty: Redis holds nothing that must survive
        await wait_until_used_again(backends)
        await backends.cache.set("k3", {"v": 3}, 60)
        assert await backends.cache.get("k3") == {"v": 3}
        fresh = [await backends.limiter.hit(key, 3, 60) for _ in range(4)]
        assert [d.allowed for d in fresh] == [True, True, True, False]
        # The counts went to Redis: another replica sees them.
        other = await replica(fresh_redis)
        try:
            assert not (await other.limiter.hit(key, 3, 60)).allowed
        finally:
            await other.aclose()
    finally:
        await backends.aclose()


async def test_start_with_redis_down_runs_degraded(fresh_redis: RedisServer) -> None:
    fresh_redis.stop()
    backends = await replica(fresh_redis)  # must not raise
    try:
        assert backends.kinds["cache"] == "redis"
        assert await backends.cache.get("k") is None
        assert (await backends.limiter.hit("k", 1, 60)).allowed
        assert not (await backends.limiter.hit("k", 1, 60)).allowed
        with pytest.raises(StoreUnavailable):
            async with backends.signals.subscribe("ch"):
                pass
        fresh_redis.start()
        await wait_until_used_again(backends)
        await backends.cache.set("k", {"v": 1}, 60)
        assert await backends.cache.get("k") == {"v": 1}
    finally:
        await backends.aclose()


async def test_subscription_ends_with_store_unavailable_when_redis_drops(
    fresh_redis: RedisServer,
) -> None:
    backends = await replica(fresh_redis)
    try:
        async with backends.signals.subscribe("ch") as messages:
            await backends.signals.publish("ch", {"n": 1})
            it = aiter(messages)
            assert await asyncio.wait_for(anext(it), 5) == {"n": 1}
            fresh_redis.kill()
            with pytest.raises(StoreUnavailable):
                await asyncio.wait_for(anext(it), 10)
    finally:
        await backends.aclose()
