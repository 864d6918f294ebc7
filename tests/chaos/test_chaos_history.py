"""A conversation cut off mid-exchange (a crash or restart after the model asked for a tool,
before the result was saved) stays usable: what is sent to the model again never contains a
call without its result, wherever the cut-off exchange sits in the history."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from google.genai import types

from agent.loop import content_from_json, content_to_json, sanitize_history
from api.app import create_app
from tests.chaos.chaos_stack import history_problems
from tests.core.conftest import settings_for

KEY = {"X-API-Key": "alice-key-0001"}


def call_turn(name: str, call_id: str) -> types.Content:
    return types.Content(
        role="model",
        parts=[types.Part(function_call=types.FunctionCall(id=call_id, name=name, args={}))],
    )


def answer(name: str, call_id: str) -> types.Content:
    return types.Content(
        role="user",
        parts=[
            types.Part(function_response=types.FunctionResponse(id=call_id, name=name, response={}))
        ],
    )


def text(role: str, words: str) -> types.Content:
    return types.Content(role=role, parts=[types.Part(text=words)])


def as_json(history: list[types.Content]) -> list[dict[str, Any]]:
    return [content_to_json(c) for c in history]


def test_unanswered_calls_are_left_out_anywhere_answered_ones_kept() -> None:
    history = [
        text("user", "one"),
        call_turn("calculator", "a"),
        answer("calculator", "a"),
        text("model", "done one"),
        text("user", "two"),
        call_turn("calculator", "b"),  # cut off here, then the conversation went on
        text("user", "three"),
        text("model", "done three"),
        text("user", "four"),
        call_turn("calculator", "c"),  # and cut off again at the very end
    ]
    assert history_problems(as_json(history))  # as stored: not valid to resend
    clean = sanitize_history(history)
    assert history_problems(as_json(clean)) == []
    assert pending_ids(clean) == ["a"]
    roles = ["user", "model", "user", "model", "user", "user", "model", "user"]
    assert [c.role for c in clean] == roles


def pending_ids(history: list[types.Content]) -> list[str]:
    return [
        p.function_call.id or ""
        for c in history
        for p in c.parts or []
        if p.function_call is not None
    ]


def test_a_session_cut_off_mid_exchange_goes_on() -> None:
    app = create_app(settings_for(api_keys="alice:alice-key-0001"))
    with TestClient(app) as client:
        first = client.post("/api/v1/chat", json={"message": "What is 2*3?"}, headers=KEY)
        assert first.status_code == 200, first.text
        sid = first.json()["session_id"]
        # What a restart mid-exchange leaves behind: the model's call, no result.
        rt = app.state.runtime
        orphan = content_to_json(call_turn("calculator", "lost"))
        client.portal.call(rt.backends.sessions.append_turn, "alice", sid, orphan)  # type: ignore[union-attr]
        for question, expected in (("What is 4*5?", "20"), ("What is 6*7?", "42")):
            r = client.post(
                "/api/v1/chat", json={"message": question, "session_id": sid}, headers=KEY
            )
            assert r.status_code == 200, r.text
            assert expected in r.json()["response"]
        messages = client.get(f"/api/v1/sessions/{sid}", headers=KEY).json()["messages"]
        stored = [{"role": m["role"], "parts": m["parts"]} for m in messages]
        assert orphan in stored  # the record keeps what happened...
        resent = sanitize_history([content_from_json(m) for m in stored])
        assert history_problems(as_json(resent)) == []  # ...the model never sees it
