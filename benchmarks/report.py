"""Targets, the README table and the chart, all from one results dict."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Check:
    name: str
    figure: str
    target: str
    met: bool | None  # None: not measured in this run

    @property
    def verdict(self) -> str:
        return "n/a" if self.met is None else ("yes" if self.met else "**no**")


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def growth_exponent(points: list[tuple[float, float]]) -> float | None:
    """The largest d log(y) / d log(x) between neighbouring points: 1 = linear growth."""
    worst = None
    for (x1, y1), (x2, y2) in itertools.pairwise(points):
        if x1 > 0 and x2 > x1 and y1 > 0 and y2 > 0:
            e = math.log(y2 / y1) / math.log(x2 / x1)
            worst = e if worst is None else max(worst, e)
    return worst


def checks(results: dict[str, Any]) -> list[Check]:
    out: list[Check] = []

    def add(name: str, value: float | None, fmt: str, target: str, ok: bool | None) -> None:
        out.append(Check(name, "not measured" if value is None else fmt.format(value), target, ok))

    r = _get(results, "http", "ratio")
    add("HTTP: /health vs bare app, req/s", r, "{:.0%}", ">= 60 %", None if r is None else r >= 0.6)
    for kind in ("memory", "postgres_redis"):
        r = _get(results, "chat", kind, "ratio")
        label = "in-memory" if kind == "memory" else "Postgres + Redis"
        add(
            f"Chat vs direct SDK calls, req/s ({label})",
            r,
            "{:.0%}",
            ">= 50 %",
            None if r is None else r >= 0.5,
        )
    t = _get(results, "tasks", "two_workers", "tasks_per_s")
    add(
        "Tasks/s, 2 workers (Postgres + Redis)",
        t,
        "{:.1f}/s",
        ">= 50/s",
        None if t is None else t >= 50,
    )
    idle = _get(results, "footprint", "rss_idle_mb")
    add("API RSS idle", idle, "{:.0f} MB", "<= 120 MB", None if idle is None else idle <= 120)
    loaded = _get(results, "footprint", "rss_loaded_mb")
    add(
        "API RSS under chat load",
        loaded,
        "{:.0f} MB",
        "<= 250 MB",
        None if loaded is None else loaded <= 250,
    )
    app = _get(results, "docker", "app_layers_mb")
    add(
        "Image layers above the base",
        app,
        "{:.0f} MB",
        "<= 80 MB",
        None if app is None else app <= 80,
    )
    start = _get(results, "docker", "start_to_ready_s")
    add(
        "`docker run` to /ready 200",
        start,
        "{:.2f} s",
        "<= 3 s",
        None if start is None else start <= 3,
    )
    hist = _get(results, "growth", "chat_history") or []
    e = growth_exponent([(p["turns"], p["p50_ms"]) for p in hist])
    add(
        "Chat p50 latency vs history turns (10 -> 1000)",
        e,
        "exponent {:.2f}",
        "< 1 (sub-linear)",
        None if e is None else e < 1,
    )
    table = _get(results, "growth", "tasks_table") or []
    if len(table) >= 2 and table[0]["tasks_per_s"]:
        keep = table[-1]["tasks_per_s"] / table[0]["tasks_per_s"]
        add(
            f"Tasks/s at {table[-1]['rows']:,} vs {table[0]['rows']:,} rows",
            keep,
            "{:.0%}",
            ">= 80 % (flat)",
            keep >= 0.8,
        )
    else:
        add("Tasks/s as the tasks table grows", None, "", ">= 80 % (flat)", None)
    return out


def table_markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Measured {m['date']} on {m['cpus']} CPU cores ({m['cpu_model']}), "
        f"{m['memory_gb']:.0f} GB RAM, {m['os']}; load average {m['load_before']} before and "
        f"{m['load_after']} after the run (a shared machine: other work ran alongside).",
        "",
        "| Measure | Baseline | Ours | Figure | Target | Met |",
        "|---|---|---|---|---|---|",
    ]
    rows = _detail_rows(results)
    for c in checks(results):
        base, ours = rows.get(c.name, ("", ""))
        lines.append(f"| {c.name} | {base} | {ours} | {c.figure} | {c.target} | {c.verdict} |")
    return "\n".join(lines) + "\n"


def _rate(d: dict[str, Any] | None, unit: str = "req/s") -> str:
    if not d:
        return ""
    return f"{d['rps']:.0f} {unit}, p50 {d['p50_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms"


def _detail_rows(results: dict[str, Any]) -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    http = results.get("http") or {}
    if http:
        rows["HTTP: /health vs bare app, req/s"] = (
            "bare Starlette: " + _rate(http.get("bare")),
            "/health: " + _rate(http.get("health")),
        )
    for kind, label in (("memory", "in-memory"), ("postgres_redis", "Postgres + Redis")):
        c = _get(results, "chat", kind)
        if c:
            low = c.get("low_concurrency") or {}
            also = (
                f"; with {low['concurrency']} in flight: {low['ratio']:.0%}"
                if low.get("ratio") is not None
                else ""
            )
            rows[f"Chat vs direct SDK calls, req/s ({label})"] = (
                f"SDK, {c.get('concurrency')} in flight: " + _rate(c.get("direct_sdk")),
                "POST /api/v1/chat: " + _rate(c.get("service")) + also,
            )
    tasks = results.get("tasks") or {}
    if tasks.get("two_workers"):
        one = tasks.get("one_worker") or {}
        paced = tasks.get("paced") or {}
        claim = tasks.get("claim_query") or {}
        rows["Tasks/s, 2 workers (Postgres + Redis)"] = (
            f"1 worker: {one.get('tasks_per_s', float('nan')):.1f}/s",
            f"pickup p50/p99 {paced.get('pickup_p50_ms', float('nan')):.0f}/"
            f"{paced.get('pickup_p99_ms', float('nan')):.0f} ms; claim query p50/p99 "
            f"{claim.get('p50_ms', float('nan')):.1f}/{claim.get('p99_ms', float('nan')):.1f} ms",
        )
    fp = results.get("footprint") or {}
    if fp:
        rows["API RSS under chat load"] = (
            "",
            f"in-memory; Postgres + Redis: {fp.get('rss_loaded_pg_mb', float('nan')):.0f} MB",
        )
    d = results.get("docker") or {}
    if d.get("image_mb"):
        rows["Image layers above the base"] = (
            f"base {d.get('base_mb')} MB",
            f"image {d['image_mb']} MB",
        )
    hist = _get(results, "growth", "chat_history") or []
    if hist:
        rows["Chat p50 latency vs history turns (10 -> 1000)"] = (
            "",
            ", ".join(f"{p['turns']}: {p['p50_ms']:.0f} ms" for p in hist),
        )
    table = _get(results, "growth", "tasks_table") or []
    if len(table) >= 2:
        key = f"Tasks/s at {table[-1]['rows']:,} vs {table[0]['rows']:,} rows"
        rows[key] = (
            f"{table[0]['tasks_per_s']:.1f}/s, claim p50 {table[0]['claim_p50_ms']:.1f} ms",
            f"{table[-1]['tasks_per_s']:.1f}/s, claim p50 {table[-1]['claim_p50_ms']:.1f} ms",
        )
    return rows


def draw_chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), dpi=72)
    fig.suptitle(f"gemini-agent benchmarks, {results['machine']['date']}", fontsize=12)

    def bars(
        ax: Any,
        labels: list[str],
        values: list[float],
        title: str,
        unit: str,
        colors: list[str] | None = None,
    ) -> None:
        palette = colors or ["#999999", "#3b75af", "#e0823a", "#59a14f"]
        ax.bar(labels, values, color=palette[: len(values)])
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit)
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.0f}", ha="center", va="bottom", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)

    http = results.get("http") or {}
    if http:
        bars(
            axes[0][0],
            ["bare app", "/health"],
            [http["bare"]["rps"], http["health"]["rps"]],
            f"HTTP GET ({http['ratio']:.0%} of bare)",
            "req/s",
        )
    chat = results.get("chat") or {}
    labels, values = [], []
    for kind, label in (("memory", "memory"), ("postgres_redis", "PG+Redis")):
        if kind in chat:
            labels += [f"SDK\n({label})", f"API\n({label})"]
            values += [chat[kind]["direct_sdk"]["rps"], chat[kind]["service"]["rps"]]
    if values:
        bars(
            axes[0][1],
            labels,
            values,
            "Chat: API vs direct SDK calls",
            "req/s",
            ["#999999", "#3b75af"] * 2,
        )
    tasks = results.get("tasks") or {}
    if tasks.get("two_workers"):
        bars(
            axes[0][2],
            ["1 worker", "2 workers"],
            [tasks["one_worker"]["tasks_per_s"], tasks["two_workers"]["tasks_per_s"]],
            "Tasks end to end (target 50/s)",
            "tasks/s",
        )
        axes[0][2].axhline(50, color="red", linestyle="--", linewidth=1)
    hist = _get(results, "growth", "chat_history") or []
    ax = axes[1][0]
    if hist:
        xs = [p["turns"] for p in hist]
        ax.plot(xs, [p["p50_ms"] for p in hist], marker="o", label="p50")
        ax.plot(xs, [p["p99_ms"] for p in hist], marker="s", label="p99")
        ax.plot(
            xs,
            [hist[0]["p50_ms"] * x / xs[0] for x in xs],
            linestyle=":",
            color="grey",
            label="linear from 10",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.set_title("Chat latency vs session history", fontsize=10)
    ax.set_xlabel("turns in the session")
    ax.set_ylabel("ms")
    table = _get(results, "growth", "tasks_table") or []
    ax = axes[1][1]
    if table:
        xs = [p["rows"] for p in table]
        ax.plot(xs, [p["tasks_per_s"] for p in table], marker="o", color="#3b75af")
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_ylabel("tasks/s", color="#3b75af")
        ax2 = ax.twinx()
        ax2.plot(xs, [p["claim_p50_ms"] for p in table], marker="s", color="#e0823a")
        ax2.set_ylim(bottom=0)
        ax2.set_ylabel("claim query p50, ms", color="#e0823a")
    ax.set_title("Tasks vs tasks-table rows", fontsize=10)
    ax.set_xlabel("rows in tasks")
    fp = results.get("footprint") or {}
    if fp:
        bars(
            axes[1][2],
            ["idle", "chat load", "load (PG)"],
            [fp.get("rss_idle_mb", 0), fp.get("rss_loaded_mb", 0), fp.get("rss_loaded_pg_mb", 0)],
            "API process RSS (targets 120 / 250)",
            "MB",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)
