"""The emulator's HTTP surface checked byte by byte: both key spellings, framing, error bodies."""

from __future__ import annotations

import json
from typing import Any

import httpx2

MODEL = "gemini-2.5-flash"
GENERATE = f"/v1beta/models/{MODEL}:generateContent"


def snake_request() -> dict[str, Any]:
    return {
        "contents": [
            {"role": "user", "parts": [{"text": "What is 12*34?"}]},
            {
                "role": "model",
                "parts": [
                    {
                        "function_call": {
                            "id": "call-1",
                            "name": "lookup",
                            "args": {"camelArg": 1},
                        },
                        "thought_signature": "c2ln",
                    }
                ],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "function_response": {
                            "id": "call-1",
                            "name": "lookup",
                            "response": {"output": {"someKey": True}},
                        }
                    }
                ],
            },
        ],
        "system_instruction": {"parts": [{"text": "Be terse."}]},
        "tools": [
            {
                "function_declarations": [
                    {"name": "lookup", "parameters": {"type": "OBJECT"}},
                    {
                        "name": "calculator",
                        "description": "evaluates arithmetic",
                        "parameters_json_schema": {
                            "type": "object",
                            "properties": {"expression": {"type": "string"}},
                        },
                    },
                ]
            }
        ],
        "generation_config": {"temperature": 0.0, "max_output_tokens": 64},
        "tool_config": {"function_calling_config": {"mode": "AUTO"}},
    }


def camel(value: Any) -> Any:
    """The same request in the camelCase spelling the SDK mostly uses."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            head, *rest = key.split("_")
            name = head + "".join(w.title() for w in rest)
            keep = key in ("args", "response", "parameters", "parameters_json_schema")
            out[name] = item if keep else camel(item)
        return out
    if isinstance(value, list):
        return [camel(item) for item in value]
    return value


def test_snake_case_and_camel_case_requests_get_the_same_answer(raw: httpx2.Client) -> None:
    snake = raw.post(GENERATE, json=snake_request())
    camel_body = camel(snake_request())
    assert "systemInstruction" in camel_body and "functionDeclarations" in camel_body["tools"][0]
    camelled = raw.post(GENERATE, json=camel_body)
    assert snake.status_code == camelled.status_code == 200
    body = snake.json()
    assert body["candidates"][0]["content"] == {
        "role": "model",
        "parts": [{"text": 'The tool lookup returned {"someKey": true}.'}],
    }
    # Same meaning, same reply, down to the response id (derived from the normalised body).
    assert camelled.json() == body


def test_snake_case_function_calls_in_the_first_turn(raw: httpx2.Client) -> None:
    request = snake_request()
    request["contents"] = request["contents"][:1]
    reply = raw.post(GENERATE, json=request).json()
    part = reply["candidates"][0]["content"]["parts"][0]
    assert part["functionCall"] == {
        "id": "call-1",
        "name": "calculator",
        "args": {"expression": "12*34"},
    }
    assert part["thoughtSignature"]
    assert reply["candidates"][0]["finishReason"] == "STOP"
    assert set(reply["usageMetadata"]) == {
        "promptTokenCount",
        "candidatesTokenCount",
        "totalTokenCount",
    }
    assert reply["modelVersion"] == MODEL


def test_sse_framing_is_exactly_data_lines_with_crlf(raw: httpx2.Client) -> None:
    response = raw.post(
        f"/v1beta/models/{MODEL}:streamGenerateContent",
        params={"alt": "sse"},
        json={"contents": [{"parts": [{"text": "a b c d e f g h"}]}]},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = response.content.split(b"\r\n\r\n")
    assert events[-1] == b"" and len(events) >= 4
    bodies = []
    for event in events[:-1]:
        assert event.startswith(b"data: {") and b"\n" not in event
        bodies.append(json.loads(event[len(b"data: ") :]))
    text = "".join(b["candidates"][0]["content"]["parts"][0]["text"] for b in bodies)
    assert text == "Emulated reply to: a b c d e f g h"
    assert "usageMetadata" in bodies[-1] and "finishReason" in bodies[-1]["candidates"][0]


def test_malformed_request_json_is_a_400(raw: httpx2.Client) -> None:
    for payload in (b"{not json", b"[1, 2]", b'{"contents": "text"}', b'{"contents": []}'):
        response = raw.post(GENERATE, content=payload, headers={"content-type": "application/json"})
        assert response.status_code == 400, payload
        error = response.json()["error"]
        assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT" and error["message"]


def test_broken_directives_are_a_400_not_a_crash(raw: httpx2.Client) -> None:
    for text in (
        "[[call]]",
        "[[call f {bad json}]]",
        "[[delay soon]]",
        "[[fault 200 x1]]",
        "[[delay 1",
    ):
        response = raw.post(GENERATE, json={"contents": [{"parts": [{"text": text}]}]})
        assert response.status_code == 400, text
    unknown = raw.post(GENERATE, json={"contents": [{"parts": [{"text": "[[not a directive]]"}]}]})
    assert unknown.status_code == 200


def test_unknown_routes_use_the_google_error_body(raw: httpx2.Client) -> None:
    for method, path in (
        ("POST", f"/v2/models/{MODEL}:generateContent"),
        ("POST", f"/v1beta/models/{MODEL}:explode"),
        ("GET", "/nowhere"),
    ):
        response = raw.request(method, path, json={})
        assert response.status_code == 404, path
        assert response.json()["error"]["status"] == "NOT_FOUND"
    assert raw.get("/healthz").json()["status"] == "ok"


def test_count_tokens_and_embeddings(raw: httpx2.Client) -> None:
    counted = raw.post(
        f"/v1/models/{MODEL}:countTokens",
        json={"contents": [{"parts": [{"text": "12345678"}]}]},
    )
    assert counted.json() == {"totalTokens": 2}
    nested = raw.post(
        f"/v1beta/models/{MODEL}:countTokens",
        json={"generateContentRequest": {"contents": [{"parts": [{"text": "1234"}]}]}},
    )
    assert nested.json() == {"totalTokens": 1}
    embedded = raw.post(
        "/v1beta/models/text-embedding-004:batchEmbedContents",
        json={
            "requests": [
                {"content": {"parts": [{"text": "red apples"}]}, "outputDimensionality": 16},
                {"content": {"parts": [{"text": "red apples"}]}, "output_dimensionality": 16},
            ]
        },
    ).json()
    first, second = (e["values"] for e in embedded["embeddings"])
    assert len(first) == 16 and first == second
    assert abs(sum(v * v for v in first) - 1) < 1e-3


def test_admin_faults_validate_and_stats_count(raw: httpx2.Client) -> None:
    assert raw.post("/_emulator/faults", json={"status": 200}).status_code == 400
    assert raw.post("/_emulator/faults", json={"count": -1}).status_code == 400
    assert raw.post("/_emulator/faults", json={"delay": 99}).status_code == 400
    assert raw.post("/_emulator/faults", content=b"nope").status_code == 400
    armed = raw.post("/_emulator/faults", json={"status": 429, "count": 1})
    assert armed.json() == {"status": 429, "count": 1, "delay": 0.0}
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    assert raw.post(GENERATE, json=body).status_code == 429
    assert raw.post(GENERATE, json=body).status_code == 200
    assert raw.post(f"/v1beta/models/{MODEL}:countTokens", json=body).status_code == 200
    assert raw.get("/_emulator/stats").json() == {
        "requests": {"countTokens": {"200": 1}, "generateContent": {"200": 1, "429": 1}},
        "total": 3,
    }
    assert raw.get("/_emulator/faults").json()["count"] == 0
