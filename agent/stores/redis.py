"""Redis adapters: response cache, shared rate-limit counters and pub/sub signals.

Redis holds nothing that cannot be lost, so it is optional at run time. While it is down the
service keeps answering (degraded mode): the cache is bypassed, the limiter counts per replica
in memory, and publishes are dropped (workers and SSE followers poll). None of these raise.
After a failure the client is left alone for a short pause, so a dead Redis costs each
request nothing; the first call after the pause tries again, and the shared path is back.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from agent.stores.base import JSON, RateDecision, StoreUnavailable
from agent.stores.memory import MemoryRateLimiter

if TYPE_CHECKING:
    from agent.backends import Backends
    from agent.settings import Settings

log = logging.getLogger(__name__)

CACHE_PREFIX = "ga:cache:"
RATE_PREFIX = "ga:rl:"
SIGNAL_PREFIX = "ga:signal:"
# After a failed call, skip Redis for this long before trying again.
RETRY_PAUSE_SECONDS = 1.0
SOCKET_TIMEOUT_SECONDS = 2.0
PING_TIMEOUT_SECONDS = 2.0

_FAILURES = (RedisError, OSError, TimeoutError)

# INCR and the first EXPIRE of a window in one atomic step, so a crash between the two can
# never leave a counter without a TTL.
_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


def connect(url: str) -> aioredis.Redis:
    """A client that fails fast: no retries, short timeouts (degraded mode handles failure)."""
    client: aioredis.Redis = aioredis.Redis.from_url(
        url,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=15,
    )
    return client


class RedisLink:
    """The client plus the shared up/down state the three adapters consult."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._down_until = 0.0
        self._warned = False

    def usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, what: str, exc: BaseException) -> None:
        self._down_until = time.monotonic() + RETRY_PAUSE_SECONDS
        if not self._warned:  # one warning per outage, not one per request
            self._warned = True
            log.warning("redis unavailable (%s), running degraded: %s", what, exc)

    def succeeded(self) -> None:
        if self._warned:
            self._warned = False
            log.warning("redis reachable again, leaving degraded mode")

    async def close(self) -> None:
        await self.client.aclose()


class RedisHealth:
    name = "redis"

    def __init__(self, link: RedisLink) -> None:
        self._link = link

    async def ping(self) -> None:
        try:
            await self._link.client.ping()
        except _FAILURES as exc:
            raise StoreUnavailable(f"redis unavailable: {exc}") from exc


class RedisCache:
    def __init__(self, link: RedisLink) -> None:
        self._link = link

    async def get(self, key: str) -> JSON | None:
        if not self._link.usable():
            return None
        try:
            raw = await self._link.client.get(CACHE_PREFIX + key)
        except _FAILURES as exc:
            self._link.failed("cache get", exc)
            return None
        self._link.succeeded()
        if raw is None:
            return None
        value: JSON = json.loads(raw)
        return value

    async def set(self, key: str, value: JSON, ttl_seconds: int) -> None:
        if ttl_seconds <= 0 or not self._link.usable():
            return
        try:
            await self._link.client.set(CACHE_PREFIX + key, json.dumps(value), ex=ttl_seconds)
        except _FAILURES as exc:
            self._link.failed("cache set", exc)
            return
        self._link.succeeded()


class RedisRateLimiter:
    """Fixed window shared by every replica: one counter per key and window, `ga:rl:K:W`.

    While Redis is down each replica counts alone (a per-process MemoryRateLimiter), so the
    effective limit is per replica until Redis returns.
    """

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._script = link.client.register_script(_HIT_SCRIPT)
        self._fallback = MemoryRateLimiter()

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        if not self._link.usable():
            return await self._fallback.hit(key, limit, window_seconds)
        now = time.time()
        window = int(now // window_seconds)
        try:
            count = int(
                await self._script(keys=[f"{RATE_PREFIX}{key}:{window}"], args=[window_seconds + 1])
            )
        except _FAILURES as exc:
            self._link.failed("rate limit", exc)
            return await self._fallback.hit(key, limit, window_seconds)
        self._link.succeeded()
        retry_after = max(1, int((window + 1) * window_seconds - now + 0.999))
        return RateDecision(count <= limit, limit, max(0, limit - count), retry_after)


class RedisSignals:
    """Pub/sub between replicas. A subscription ends with StoreUnavailable when Redis drops;
    subscribers treat signals as hints and fall back to polling the database."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link

    async def publish(self, channel: str, message: JSON) -> None:
        if not self._link.usable():
            return
        try:
            await self._link.client.publish(SIGNAL_PREFIX + channel, json.dumps(message))
        except _FAILURES as exc:
            self._link.failed("publish", exc)
            return
        self._link.succeeded()

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[JSON]]:
        pubsub = self._link.client.pubsub()
        try:
            await pubsub.subscribe(SIGNAL_PREFIX + channel)
            # Wait for the confirmation: once the context is entered, every later publish is
            # delivered, so a caller can subscribe, read the state, then wait without a gap.
            confirmed = await pubsub.get_message(timeout=SOCKET_TIMEOUT_SECONDS)
            if confirmed is None or confirmed.get("type") != "subscribe":
                raise TimeoutError(f"no subscribe confirmation: {confirmed!r}")
        except _FAILURES as exc:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            self._link.failed("subscribe", exc)
            raise StoreUnavailable(f"redis unavailable: {exc}") from exc

        async def messages() -> AsyncIterator[JSON]:
            while True:
                try:
                    item: dict[str, Any] | None = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=None
                    )
                except _FAILURES as exc:
                    self._link.failed("subscription", exc)
                    raise StoreUnavailable(f"redis subscription lost: {exc}") from exc
                if item is None or item.get("type") != "message":
                    continue
                message: JSON = json.loads(item["data"])
                yield message

        try:
            yield messages()
        finally:
            try:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            except _FAILURES:
                pass  # the connection is already gone; nothing to unsubscribe from


async def open_redis(settings: Settings, backends: Backends) -> RedisLink:
    """Swap in the Redis adapters. An unreachable Redis does not stop start-up: the service
    starts degraded and picks Redis up as soon as it answers."""
    assert settings.redis_url is not None
    link = RedisLink(connect(settings.redis_url.get_secret_value()))
    try:
        await link.client.ping()
    except _FAILURES as exc:
        link.failed("start-up ping", exc)
    backends.cache = RedisCache(link)
    backends.limiter = RedisRateLimiter(link)
    backends.signals = RedisSignals(link)
    backends.kinds["cache"] = "redis"
    backends.checks.append(RedisHealth(link))
    backends.closers.append(link.close)
    return link
