"""The arithmetic behind `make bench`: wrk parsing, percentiles, ratios and target checks.
(The benchmark itself is never run as a test: its figures are ratios, not pass/fail.)"""

from __future__ import annotations

import math

import pytest

from benchmarks.load import LoadResult, paired_ratio, parse_wrk, percentile
from benchmarks.report import checks, growth_exponent, table_markdown

WRK_OUTPUT = """Running 4s test @ http://127.0.0.1:41234/health
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.62ms  410.11us   9.80ms   90.12%
    Req/Sec    10.01k   512.33    10.90k    70.00%
  Latency Distribution
     50%    1.52ms
     75%    1.71ms
     90%    2.01ms
     99%  850.00us
  40012 requests in 4.00s, 5.83MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 9
Requests/sec:  10003.00
Transfer/sec:      1.46MB
"""


def test_parse_wrk_reads_counts_errors_and_percentiles() -> None:
    r = parse_wrk(WRK_OUTPUT)
    assert r.errors == 12  # 2 read + 1 timeout + 9 non-2xx
    assert r.requests == 40012 - 12
    assert r.seconds == pytest.approx(4.0)
    assert r.p50_ms == pytest.approx(1.52)
    assert r.p99_ms == pytest.approx(0.85)  # microseconds converted
    assert r.rps == pytest.approx(40000 / 4.0)


def test_parse_wrk_refuses_output_without_totals() -> None:
    with pytest.raises(ValueError, match="unexpected wrk output"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def _load(rps: float) -> LoadResult:
    return LoadResult(requests=int(rps * 2), errors=0, seconds=2.0)


def test_paired_ratio_is_the_median_of_per_round_ratios() -> None:
    # The middle round's baseline was slowed down by other work; the median ignores it.
    out = paired_ratio([_load(60), _load(50), _load(70)], [_load(100), _load(50), _load(100)])
    assert out["per_round_ratios"] == [0.6, 1.0, 0.7]
    assert out["ratio"] == 0.7


def test_growth_exponent_tells_linear_from_flat() -> None:
    assert growth_exponent([(10, 5.0), (100, 50.0), (1000, 500.0)]) == pytest.approx(1.0)
    assert growth_exponent([(10, 5.0), (100, 5.0), (1000, 5.0)]) == pytest.approx(0.0)
    # The worst step counts: flat, then linear.
    assert growth_exponent([(10, 5.0), (100, 5.0), (1000, 50.0)]) == pytest.approx(1.0)
    assert growth_exponent([(10, 5.0)]) is None


def _results(**overrides: object) -> dict[str, object]:
    results: dict[str, object] = {
        "machine": {
            "date": "2026-01-01 00:00 UTC",
            "cpus": 2,
            "cpu_model": "test CPU",
            "memory_gb": 4.0,
            "os": "test OS",
            "load_before": "0.00",
            "load_after": "0.00",
        },
        "http": {"ratio": 0.75},
        "chat": {"memory": {"ratio": 0.9}, "postgres_redis": {"ratio": 0.55}},
        "tasks": {"two_workers": {"tasks_per_s": 64.0}},
        "footprint": {"rss_idle_mb": 80.0, "rss_loaded_mb": 120.0},
        "docker": {"app_layers_mb": 70.0, "start_to_ready_s": 1.5},
        "growth": {
            "chat_history": [
                {"turns": 10, "p50_ms": 20.0, "p99_ms": 30.0},
                {"turns": 100, "p50_ms": 40.0, "p99_ms": 60.0},
                {"turns": 1000, "p50_ms": 60.0, "p99_ms": 90.0},
            ],
            "tasks_table": [
                {"rows": 1000, "tasks_per_s": 60.0, "claim_p50_ms": 0.5},
                {"rows": 100000, "tasks_per_s": 55.0, "claim_p50_ms": 0.6},
            ],
        },
    }
    results.update(overrides)
    return results


def test_every_target_met() -> None:
    verdicts = {c.name: c.met for c in checks(_results())}
    assert len(verdicts) == 10
    assert all(verdicts.values()), verdicts


def test_missed_and_unmeasured_targets_are_told_apart() -> None:
    found = checks(_results(http={"ratio": 0.59}, docker={}))
    by_name = {c.name: c for c in found}
    assert by_name["HTTP: /health vs bare app, req/s"].met is False
    assert by_name["HTTP: /health vs bare app, req/s"].figure == "59%"
    assert by_name["`docker run` to /ready 200"].met is None
    assert by_name["`docker run` to /ready 200"].figure == "not measured"
    table = table_markdown(_results(http={"ratio": 0.59}, docker={}))
    assert "| **no** |" in table and "| n/a |" in table
    assert "2 CPU cores" in table and "4 GB RAM" in table
