"""The step loop driven by the real google-genai SDK over HTTP against the emulator."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from google.genai import types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.loop import (
    LoopEvent,
    content_from_json,
    content_to_json,
    pending_calls,
    run_steps,
)
from agent.model import Model, ModelError
from agent.stores.memory import MemoryNoteStore, MemorySessionStore
from agent.tools import ToolContext, registry
from agent.tools import builtin as _builtin  # noqa: F401
from tests.core.conftest import settings_for


def user(text: str) -> types.Content:
    return types.Content(role="user", parts=[types.Part(text=text)])


async def run(
    emulator_url: str, prompt: str, max_steps: int = 8, tools: list[str] | None = None, **kw: Any
) -> tuple[Any, list[types.Content], list[LoopEvent], list[types.Content]]:
    s = settings_for(emulator_url, **kw)
    model = Model(s)
    history = [user(prompt)]
    persisted: list[types.Content] = []
    events: list[LoopEvent] = []

    async def on_turn(content: types.Content, tokens: int) -> None:
        persisted.append(content)

    async def on_event(event: LoopEvent) -> None:
        events.append(event)

    try:
        result = await run_steps(
            model,
            history,
            tools=registry.select(s, tools),
            ctx=ToolContext("alice", MemoryNoteStore(), s),
            max_steps=max_steps,
            system_prompt=s.system_prompt,
            tool_timeout=5,
            on_turn=on_turn,
            on_event=on_event,
        )
    finally:
        await model.aclose()
    return result, history, events, persisted


async def test_calculator_question_answers_408(emulator_url: str) -> None:
    result, history, events, persisted = await run(emulator_url, "What is 12*34?")
    assert "408" in result.text and result.stopped == "final"
    assert result.steps == 2 and result.tokens > 0
    assert [e.type for e in events] == ["step", "tool_call", "tool_result", "step", "final"]
    call = history[1].parts[0].function_call  # type: ignore[index]
    assert call is not None and call.name == "calculator" and call.args == {"expression": "12*34"}
    assert history[1].parts[0].thought_signature  # type: ignore[index]
    reply = history[2].parts[0].function_response  # type: ignore[index]
    assert (
        reply is not None
        and reply.id == call.id
        and reply.response == {"expression": "12*34", "result": 408}
    )
    assert persisted == history[1:]


async def test_two_tools_run_in_one_step(emulator_url: str) -> None:
    result, history, _events, _ = await run(
        emulator_url, "What is 2+3 and what time is it in Europe/Paris?"
    )
    calls = pending_calls(history[:2])
    assert sorted(c.name for c in calls) == ["calculator", "current_time"]  # type: ignore[type-var]
    responses = history[2].parts
    assert responses is not None and len(responses) == 2
    assert {r.function_response.id for r in responses} == {c.id for c in calls}  # type: ignore[union-attr]
    assert "5" in result.text and "Europe/Paris" in result.text
    assert result.steps == 2


async def test_retry_after_an_injected_429(emulator_url: str, emulator: httpx2.Client) -> None:
    result, *_ = await run(emulator_url, "What is 6*7? [[fault 429 x1]]")
    assert "42" in result.text
    counts = emulator.get("/_emulator/stats").json()
    assert json.dumps(counts).count("429") >= 1


async def test_exhausted_retries_become_a_model_error(
    emulator_url: str, emulator: httpx2.Client
) -> None:
    emulator.post("/_emulator/faults", json={"status": 503, "count": 10})
    with pytest.raises(ModelError) as info:
        await run(emulator_url, "hello")
    assert info.value.status == 503 and info.value.retryable


async def test_malformed_answer_is_a_502(emulator_url: str) -> None:
    with pytest.raises(ModelError) as info:
        await run(emulator_url, "hello [[malformed]]")
    assert info.value.status == 502


async def test_undeclared_tool_call_is_refused_not_run(emulator_url: str) -> None:
    result, history, *_ = await run(
        emulator_url, 'note this [[force_call remember {"text": "secret"}]]', tools=["calculator"]
    )
    reply = history[2].parts[0].function_response  # type: ignore[index]
    assert reply is not None and "not available" in reply.response["error"]  # type: ignore[index]
    assert result.cacheable is False


async def test_last_step_offers_no_tools_and_budget_is_kept(emulator_url: str) -> None:
    calls = " ".join(f'[[call calculator {{"expression": "{i}+1"}}]]' for i in range(5))
    result, history, *_ = await run(emulator_url, calls, max_steps=3)
    assert result.steps == 3
    assert sum(1 for c in history if c.role == "model") == 3
    assert not pending_calls(history)


@given(
    n_calls=st.integers(0, 6),
    max_steps=st.integers(1, 6),
    parallel=st.booleans(),
)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
async def test_loop_never_exceeds_max_steps_nor_loses_a_result(
    emulator_url: str, n_calls: int, max_steps: int, parallel: bool
) -> None:
    prompt = " ".join(f'[[call calculator {{"expression": "{i}*2"}}]]' for i in range(n_calls))
    if parallel:
        prompt += " [[parallel]]"
    result, history, events, persisted = await run(
        emulator_url, prompt or "hi", max_steps=max_steps
    )
    model_turns = [c for c in history if c.role == "model"]
    assert result.steps == len(model_turns) <= max_steps
    call_ids = [p.function_call.id for c in model_turns for p in c.parts or [] if p.function_call]
    response_ids = [
        p.function_response.id
        for c in history[1:]
        if c.role == "user"
        for p in c.parts or []
        if p.function_response
    ]
    assert sorted(call_ids) == sorted(response_ids)  # every call answered exactly once
    assert persisted == history[1:]
    assert sum(1 for e in events if e.type == "tool_result") == len(call_ids)


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20))
_json = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
_part = st.one_of(
    st.builds(lambda t: types.Part(text=t), st.text(min_size=1, max_size=50)),
    st.builds(
        lambda i, n, a, sig: types.Part(
            function_call=types.FunctionCall(id=i, name=n, args=a), thought_signature=sig
        ),
        st.text(min_size=1, max_size=10),
        st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
        st.dictionaries(st.text(max_size=8), _json, max_size=3),
        st.binary(min_size=1, max_size=16),
    ),
    st.builds(
        lambda i, n, r: types.Part(
            function_response=types.FunctionResponse(id=i, name=n, response=r)
        ),
        st.text(min_size=1, max_size=10),
        st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
        st.dictionaries(st.text(max_size=8), _json, max_size=3),
    ),
)
_content = st.builds(
    lambda role, parts: types.Content(role=role, parts=parts),
    st.sampled_from(["user", "model"]),
    st.lists(_part, min_size=1, max_size=4),
)


@given(st.lists(_content, min_size=1, max_size=5))
@settings(max_examples=100, deadline=None)
async def test_persisted_turns_round_trip_exactly(contents: list[types.Content]) -> None:
    store = MemorySessionStore()
    session = await store.create("alice", "t")
    for c in contents:
        await store.append_turn("alice", session.id, json.loads(json.dumps(content_to_json(c))))
    restored = [content_from_json(t.content) for t in await store.turns("alice", session.id)]
    assert restored == contents
