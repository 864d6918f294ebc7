"""One chat exchange: session history -> step loop -> every turn persisted as it happens."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from google.genai import types

from agent import metrics
from agent.loop import (
    OnEvent,
    content_from_json,
    content_to_json,
    run_steps,
    sanitize_history,
)
from agent.runtime import Runtime
from agent.tools.registry import JSON, Tool, ToolContext


class SessionNotFound(Exception):
    pass


class UnknownTools(Exception):
    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


@dataclass
class ChatOutcome:
    session_id: str
    text: str
    tokens: int
    cached: bool
    steps: int
    stopped: str
    tool_calls: list[JSON] = field(default_factory=list)


def select_tools(rt: Runtime, names: list[str] | None) -> list[Tool]:
    """The requested tools, refusing names that are unknown or not enabled here."""
    if names is not None:
        enabled = {t.name for t in rt.tools.available(rt.settings)}
        unknown = sorted({n for n in names if n not in enabled})
        if unknown:
            raise UnknownTools(unknown)
    return rt.tools.select(rt.settings, names)


def user_turn(message: str, context: dict[str, str] | None) -> types.Content:
    parts = [types.Part(text=message)]
    if context:
        lines = "\n".join(f"{k}: {v}" for k, v in sorted(context.items()))
        parts.insert(0, types.Part(text=f"Context for this message:\n{lines}"))
    return types.Content(role="user", parts=parts)


def cache_key(rt: Runtime, tools: list[Tool], contents: list[types.Content]) -> str:
    """A stable hash of everything that determines the answer (never Python's hash())."""
    material = {
        "model": rt.model.name,
        "system": rt.settings.system_prompt,
        "tools": sorted((t.name, json.dumps(t.parameters_schema(), sort_keys=True)) for t in tools),
        "contents": [content_to_json(c) for c in contents],
    }
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "chat:" + hashlib.sha256(blob.encode()).hexdigest()


async def chat(
    rt: Runtime,
    owner: str,
    message: str,
    *,
    session_id: str | None = None,
    context: dict[str, str] | None = None,
    tool_names: list[str] | None = None,
    max_steps: int = 8,
    on_event: OnEvent | None = None,
) -> ChatOutcome:
    sessions = rt.backends.sessions
    tools = select_tools(rt, tool_names)
    if session_id is not None:
        if await sessions.get(owner, session_id) is None:
            raise SessionNotFound(session_id)
        past = await sessions.turns(owner, session_id, limit=rt.settings.history_turns)
        history = sanitize_history([content_from_json(t.content) for t in past])
        # A window that starts mid-exchange would orphan function responses: start it at a
        # user turn with text.
        while history and not (
            history[0].role == "user" and any(p.text for p in history[0].parts or [])
        ):
            history.pop(0)
    else:
        title = message.strip().splitlines()[0][:80] if message.strip() else "chat"
        session_id = (await sessions.create(owner, title)).id
        history = []

    turn = user_turn(message, context)
    history.append(turn)
    key = cache_key(rt, tools, history)
    cached = await rt.backends.cache.get(key) if rt.settings.cache_ttl_seconds else None
    metrics.CACHE.labels(result="hit" if cached else "miss").inc()

    await sessions.append_turn(owner, session_id, content_to_json(turn))
    if cached is not None:
        for content in cached["turns"]:
            await sessions.append_turn(owner, session_id, content)
        return ChatOutcome(
            session_id=session_id,
            text=cached["text"],
            tokens=0,
            cached=True,
            steps=cached["steps"],
            stopped="final",
            tool_calls=cached["tool_calls"],
        )

    produced: list[JSON] = []

    async def on_turn(content: types.Content, tokens: int) -> None:
        data = content_to_json(content)
        produced.append(data)
        await sessions.append_turn(owner, session_id, data, tokens)

    result = await run_steps(
        rt.model,
        history,
        tools=tools,
        ctx=ToolContext(owner=owner, notes=rt.backends.notes, settings=rt.settings),
        max_steps=max_steps,
        system_prompt=rt.settings.system_prompt,
        tool_timeout=rt.settings.tool_timeout_seconds,
        on_turn=on_turn,
        on_event=on_event,
    )
    if result.stopped == "final" and result.cacheable and rt.settings.cache_ttl_seconds:
        await rt.backends.cache.set(
            key,
            {
                "turns": produced,
                "text": result.text,
                "steps": result.steps,
                "tool_calls": result.tool_calls,
            },
            rt.settings.cache_ttl_seconds,
        )
    return ChatOutcome(
        session_id=session_id,
        text=result.text,
        tokens=result.tokens,
        cached=False,
        steps=result.steps,
        stopped=result.stopped,
        tool_calls=result.tool_calls,
    )
