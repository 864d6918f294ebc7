"""HTTP overhead (/health vs a bare app) and chat overhead (the API vs direct SDK calls)."""

from __future__ import annotations

import asyncio
import statistics
import uuid
from pathlib import Path
from typing import Any

import httpx2
from google import genai
from google.genai import types

from agent.settings import Settings
from benchmarks.load import LoadResult, closed_loop, paired_ratio, run_wrk, wrk_path
from benchmarks.processes import CpuMeter, RssSampler, Server
from benchmarks.stack import EMULATOR_KEY, MODEL

SYSTEM_PROMPT: str = Settings.model_fields["system_prompt"].default


def median_of(results: list[LoadResult]) -> dict[str, Any]:
    """Median figures over rounds, with every round kept for the noise report."""
    return {
        "rps": round(statistics.median(r.rps for r in results), 1),
        "p50_ms": round(statistics.median(r.p50_ms for r in results), 2),
        "p99_ms": round(statistics.median(r.p99_ms for r in results), 2),
        "errors": sum(r.errors for r in results),
        "rounds": [r.summary() for r in results],
    }


# --- 1. HTTP ---------------------------------------------------------------------------------
async def http_get_load(url: str, *, connections: int, seconds: float) -> LoadResult:
    if wrk_path() is not None:
        return await asyncio.to_thread(run_wrk, url, connections=connections, seconds=seconds)
    # Without wrk: the Python closed loop, a fixed count sized to roughly `seconds`.
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx2.AsyncClient(limits=limits, trust_env=False, timeout=30) as client:

        async def send(_: int) -> bool:
            return (await client.get(url)).status_code == 200

        return await closed_loop(send, total=int(600 * seconds), concurrency=connections)


async def http_overhead(
    bare_url: str, api_url: str, *, connections: int, seconds: float, rounds: int
) -> dict[str, Any]:
    # Warm both, then alternate so drifting background load hits both sides alike.
    for url in (bare_url + "/health", api_url + "/health"):
        await http_get_load(url, connections=connections, seconds=1)
    bare: list[LoadResult] = []
    api: list[LoadResult] = []
    for _ in range(rounds):
        bare.append(
            await http_get_load(bare_url + "/health", connections=connections, seconds=seconds)
        )
        api.append(
            await http_get_load(api_url + "/health", connections=connections, seconds=seconds)
        )
    b, a = median_of(bare), median_of(api)
    return {
        "client": "wrk" if wrk_path() else "python closed loop",
        "connections": connections,
        "seconds_per_round": seconds,
        "bare": b,
        "health": a,
        **paired_ratio(api, bare),
    }


# --- 2. Chat ---------------------------------------------------------------------------------
def chat_message(tag: str, i: int) -> str:
    # No digits next to operators, so the emulator never sees arithmetic; unique, so the
    # response cache never answers.
    return f"Benchmark message number {i} of run {tag}, please reply briefly."


def sdk_client(emulator_url: str) -> genai.Client:
    """The same client options the service's Model uses."""
    options = types.HttpOptions(
        base_url=emulator_url,
        api_version="v1beta",
        timeout=60_000,
        retry_options=types.HttpRetryOptions(
            attempts=4,
            initial_delay=1.0,
            max_delay=20.0,
            http_status_codes=[408, 429, 500, 502, 503, 504],
        ),
    )
    return genai.Client(api_key=EMULATOR_KEY, http_options=options)


async def sdk_load(emulator_url: str, *, total: int, concurrency: int) -> LoadResult:
    client = sdk_client(emulator_url)
    config = types.GenerateContentConfig(
        system_instruction=SYSTEM_PROMPT,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    tag = uuid.uuid4().hex[:8]

    async def send(i: int) -> bool:
        r = await client.aio.models.generate_content(
            model=MODEL,
            contents=[types.Content(role="user", parts=[types.Part(text=chat_message(tag, i))])],
            config=config,
        )
        return bool(r.text)

    try:
        return await closed_loop(send, total=total, concurrency=concurrency)
    finally:
        await client.aio.aclose()


def api_client(api_url: str, concurrency: int) -> httpx2.AsyncClient:
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx2.AsyncClient(base_url=api_url, limits=limits, trust_env=False, timeout=60)


async def chat_load(
    api_url: str, *, total: int, concurrency: int, session_id: str | None = None
) -> LoadResult:
    tag = uuid.uuid4().hex[:8]
    async with api_client(api_url, concurrency) as client:

        async def send(i: int) -> bool:
            body: dict[str, Any] = {"message": chat_message(tag, i), "tools": []}
            if session_id:
                body["session_id"] = session_id
            r = await client.post("/api/v1/chat", json=body)
            return r.status_code == 200 and r.json()["cached"] is False

        return await closed_loop(send, total=total, concurrency=concurrency)


CHAT_SCRIPT = str(Path(__file__).with_name("chat.lua"))


async def chat_load_wrk(api_url: str, *, seconds: int, concurrency: int) -> LoadResult:
    """The same requests from wrk, whose own CPU cost is negligible: on a small machine a
    Python client would take its share of the cores from the service it measures."""
    return await asyncio.to_thread(
        run_wrk,
        api_url,
        connections=concurrency,
        seconds=seconds,
        script=CHAT_SCRIPT,
        env={"BENCH_TAG": uuid.uuid4().hex},
    )


async def cache_hits(api_url: str) -> float:
    """The API's response-cache hit counter: a chat answered from the cache never reached
    the model, so the benchmark checks that none were."""
    async with httpx2.AsyncClient(base_url=api_url, trust_env=False, timeout=10) as client:
        text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith('agent_response_cache_total{result="hit"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def chat_overhead(
    emulator_url: str,
    api_url: str,
    api_server: Server,
    *,
    total: int,
    concurrency: int,
    rounds: int,
    meter: CpuMeter,
) -> dict[str, Any]:
    await sdk_load(emulator_url, total=max(20, total // 10), concurrency=concurrency)
    await chat_load(api_url, total=max(20, total // 10), concurrency=concurrency)
    idle_rss = api_server.rss_mb()
    direct: list[LoadResult] = []
    service: list[LoadResult] = []
    cpu: dict[str, dict[str, float]] = {"direct_sdk": {}, "service": {}}

    def account(side: str, before: dict[str, float]) -> None:
        for name, seconds in CpuMeter.delta(before, meter.snapshot()).items():
            cpu[side][name] = cpu[side].get(name, 0.0) + seconds

    hits_before = await cache_hits(api_url)
    with RssSampler(api_server.pid) as rss:
        for _ in range(rounds):
            before = meter.snapshot()
            direct.append(await sdk_load(emulator_url, total=total, concurrency=concurrency))
            account("direct_sdk", before)
            before = meter.snapshot()
            if wrk_path() is not None:
                # As long as the SDK side took: about as many requests as there were calls.
                seconds = max(2, round(direct[-1].seconds))
                service.append(
                    await chat_load_wrk(api_url, seconds=seconds, concurrency=concurrency)
                )
            else:
                service.append(await chat_load(api_url, total=total, concurrency=concurrency))
            account("service", before)
    d, s = median_of(direct), median_of(service)
    s["cache_hits"] = await cache_hits(api_url) - hits_before
    return {
        "requests_per_round": total,
        "concurrency": concurrency,
        "direct_sdk": d,
        "service": s,
        **paired_ratio(service, direct),
        "service_client": "wrk" if wrk_path() else "python closed loop",
        "cpu_ms_per_request": {
            side: {k: round(v * 1000 / count, 2) for k, v in cpu[side].items() if v > 0}
            for side, count in (
                ("direct_sdk", sum(r.requests for r in direct) or 1),
                ("service", sum(r.requests for r in service) or 1),
            )
        },
        "rss_after_warmup_mb": round(idle_rss, 1),
        "rss_peak_under_load_mb": round(rss.peak_mb, 1),
    }
