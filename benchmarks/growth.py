"""Chat latency as a session's history grows: sessions of N turns written straight into
Postgres, then chatted with one request at a time."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from benchmarks.load import closed_loop
from benchmarks.overhead import api_client, chat_message

OPEN_OWNER = "anonymous"  # the owner of everything when API_KEYS is empty


async def seed_session(database_url: str, turns: int) -> str:
    """A session of `turns` alternating user/model turns (user first, model last)."""
    session_id = str(uuid.uuid4())
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO sessions (id, owner, title, created_at, updated_at, turn_count)"
                " VALUES ($1, $2, 'growth', clock_timestamp(), clock_timestamp(), $3)",
                session_id,
                OPEN_OWNER,
                turns,
            )
            await conn.execute(
                "INSERT INTO session_turns (session_id, seq, owner, content, tokens, created_at)"
                " SELECT $1, g, $2, CASE WHEN g % 2 = 0"
                "   THEN json_build_object('role', 'user', 'parts', json_build_array("
                "     json_build_object('text', 'An earlier question, number ' || g || '.')))"
                "   ELSE json_build_object('role', 'model', 'parts', json_build_array("
                "     json_build_object('text', 'An earlier answer of ordinary length for a"
                " chat reply, turn ' || g || '.'))) END,"
                " 12, clock_timestamp() FROM generate_series(0, $3 - 1) g",
                session_id,
                OPEN_OWNER,
                turns,
            )
    finally:
        await conn.close()
    return session_id


async def history_latency(
    api_url: str, database_url: str, sizes: list[int], *, requests: int
) -> list[dict[str, Any]]:
    points = []
    for turns in sizes:
        session_id = await seed_session(database_url, turns)
        # Two warm-up exchanges, then one request at a time: latency, not throughput.
        async with api_client(api_url, 1) as client:
            for i in range(2):
                r = await client.post(
                    "/api/v1/chat",
                    json={
                        "message": chat_message("warm", i),
                        "tools": [],
                        "session_id": session_id,
                    },
                )
                r.raise_for_status()
        result = await closed_loop_chat(api_url, session_id, requests)
        points.append({"turns": turns, **result})
    return points


async def closed_loop_chat(api_url: str, session_id: str, requests: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    async with api_client(api_url, 1) as client:

        async def send(i: int) -> bool:
            r = await client.post(
                "/api/v1/chat",
                json={"message": chat_message(tag, i), "tools": [], "session_id": session_id},
            )
            return r.status_code == 200

        res = await closed_loop(send, total=requests, concurrency=1)
    return {"p50_ms": round(res.p50_ms, 2), "p99_ms": round(res.p99_ms, 2), "errors": res.errors}
