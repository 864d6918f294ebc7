"""Load generators, all aimed at 127.0.0.1: `wrk` for plain GETs, an asyncio closed loop for
the rest (a fixed number of workers each sending its next request when the last returns)."""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    # wrk reports percentiles itself; the closed loop computes them from latencies_ms.
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, float | int]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
        }


async def closed_loop(
    send: Callable[[int], Awaitable[bool]], *, total: int, concurrency: int
) -> LoadResult:
    """`total` calls of `send(i)` (True = success) by `concurrency` workers."""
    counter = iter(range(total))
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            t0 = time.perf_counter()
            try:
                ok = await send(i)
            except Exception:
                ok = False
            latencies.append((time.perf_counter() - t0) * 1000)
            if not ok:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return LoadResult(
        requests=total - errors,
        errors=errors,
        seconds=elapsed,
        latencies_ms=latencies,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
    )


def wrk_path() -> str | None:
    return shutil.which("wrk")


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse_wrk(output: str) -> LoadResult:
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if total is None:
        raise ValueError(f"unexpected wrk output:\n{output}")
    seconds = _ms(total.group(2) + total.group(3)) / 1000
    errors = 0
    for m in re.finditer(r"(connect|read|write|timeout) (\d+)", output):
        errors += int(m.group(2))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    pct = {
        m.group(1): _ms(m.group(2))
        for m in re.finditer(r"^\s+(50|99)(?:\.000)?%\s+(\S+)\s*$", output, re.M)
    }
    return LoadResult(
        requests=int(total.group(1)) - errors,
        errors=errors,
        seconds=seconds,
        p50_ms=pct.get("50", float("nan")),
        p99_ms=pct.get("99", float("nan")),
    )


def run_wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    threads: int = 1,
    script: str | None = None,
    env: dict[str, str] | None = None,
) -> LoadResult:
    wrk = wrk_path()
    assert wrk is not None
    out = subprocess.run(  # noqa: S603 (a local tool against 127.0.0.1)
        [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "--latency",
            *(["--script", script] if script else []),
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        env={**os.environ, **(env or {})},
    )
    return parse_wrk(out.stdout)


def paired_ratio(ours: list[LoadResult], base: list[LoadResult]) -> dict[str, Any]:
    """Each round's ratio is taken against the baseline run right before it, so load that
    drifts during the run cancels out; the headline is the median of those ratios."""
    ratios = [round(x.rps / y.rps, 3) if y.rps else 0.0 for x, y in zip(ours, base, strict=True)]
    return {"ratio": round(statistics.median(ratios), 3), "per_round_ratios": ratios}
