"""The real google-genai SDK against the emulator over HTTP: calling, retries, errors, streams."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import errors, types

from tests.emulator.conftest import EMULATOR_KEY, ClientFactory, make_client

MODEL = "gemini-2.5-flash"


def declaration(name: str, **properties: str) -> types.FunctionDeclaration:
    return types.FunctionDeclaration(
        name=name,
        description=f"the {name} tool",
        parameters_json_schema={
            "type": "object",
            "properties": {key: {"type": kind} for key, kind in properties.items()},
        },
    )


BUILT_INS = [
    declaration("calculator", expression="string"),
    declaration("current_time", timezone="string"),
    declaration("remember", text="string"),
    declaration("recall", query="string"),
]


def config(*declarations: types.FunctionDeclaration) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=list(declarations))] if declarations else None,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


def user(text: str) -> types.Content:
    return types.Content(role="user", parts=[types.Part(text=text)])


def answers(calls: list[types.FunctionCall], outputs: list[Any]) -> types.Content:
    return types.Content(
        role="user",
        parts=[
            types.Part(function_response=types.FunctionResponse(id=c.id, name=c.name, response=o))
            for c, o in zip(calls, outputs, strict=True)
        ],
    )


def run_loop(
    client: genai.Client,
    prompt: str,
    cfg: types.GenerateContentConfig,
    execute: Callable[[types.FunctionCall], Any],
    model: str = MODEL,
    max_steps: int = 6,
) -> tuple[types.GenerateContentResponse, list[list[types.FunctionCall]]]:
    """A manual function-calling loop, as the service runs it: history kept verbatim."""
    history = [user(prompt)]
    turns: list[list[types.FunctionCall]] = []
    for _ in range(max_steps):
        response = client.models.generate_content(model=model, contents=history, config=cfg)
        calls = response.function_calls or []
        if not calls:
            return response, turns
        turns.append(calls)
        assert response.candidates and response.candidates[0].content
        history.append(response.candidates[0].content)
        history.append(answers(calls, [execute(c) for c in calls]))
    raise AssertionError("the emulator never gave a final answer")


def arithmetic(call: types.FunctionCall) -> dict[str, Any]:
    assert call.name == "calculator" and call.args
    left, right = str(call.args["expression"]).split("*")
    return {"expression": call.args["expression"], "result": int(left) * int(right)}


def stats(raw: httpx2.Client) -> dict[str, dict[str, int]]:
    body = raw.get("/_emulator/stats").json()
    return body["requests"]


def test_manual_function_calling_loop_computes_12_times_34(client: genai.Client) -> None:
    response, turns = run_loop(client, "What is 12*34?", config(*BUILT_INS), arithmetic)
    assert [[(c.name, c.args) for c in t] for t in turns] == [
        [("calculator", {"expression": "12*34"})]
    ]
    assert turns[0][0].id == "call-1"
    assert response.text is not None and "408" in response.text
    assert response.candidates and response.candidates[0].finish_reason == "STOP"
    usage = response.usage_metadata
    assert usage and usage.prompt_token_count and usage.candidates_token_count
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count


def test_model_turn_carries_a_thought_signature_that_round_trips(client: genai.Client) -> None:
    cfg = config(*BUILT_INS)
    first = client.models.generate_content(model=MODEL, contents=[user("2+2")], config=cfg)
    again = client.models.generate_content(model=MODEL, contents=[user("2+2")], config=cfg)
    assert first.candidates and first.candidates[0].content
    part = first.candidates[0].content.parts[0]  # type: ignore[index]
    assert part.thought_signature and len(part.thought_signature) == 24
    assert again.candidates and again.candidates[0].content
    assert again.candidates[0].content.parts[0].thought_signature == part.thought_signature  # type: ignore[index]
    assert first.response_id == again.response_id


def test_gemini_3_rejects_a_call_turn_without_its_signature(client: genai.Client) -> None:
    cfg = config(*BUILT_INS)
    first = client.models.generate_content(model="gemini-3-pro", contents=[user("6*7")], config=cfg)
    calls = first.function_calls or []
    rebuilt = types.Content(role="model", parts=[types.Part(function_call=c) for c in calls])
    history = [user("6*7"), rebuilt, answers(calls, [{"result": 42}])]
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model="gemini-3-pro", contents=history, config=cfg)
    assert caught.value.code == 400 and "thought_signature" in str(caught.value.message)
    assert first.candidates and first.candidates[0].content
    history[1] = first.candidates[0].content
    done = client.models.generate_content(model="gemini-3-pro", contents=history, config=cfg)
    assert done.text == "The answer is 42."


def test_two_tools_in_one_turn_and_ids_echoed(client: genai.Client) -> None:
    cfg = config(*BUILT_INS)
    prompt = "What is 2+3 and what time is it in Europe/Paris?"
    history = [user(prompt)]
    response = client.models.generate_content(model=MODEL, contents=history, config=cfg)
    calls = response.function_calls or []
    assert [(c.name, c.args) for c in calls] == [
        ("calculator", {"expression": "2+3"}),
        ("current_time", {"timezone": "Europe/Paris"}),
    ]
    assert len({c.id for c in calls}) == 2
    assert response.candidates and response.candidates[0].content
    history.append(response.candidates[0].content)

    wrong = [types.FunctionCall(id="call-99", name=c.name, args=c.args) for c in calls]
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(
            model=MODEL, contents=[*history, answers(wrong, [{}, {}])], config=cfg
        )
    assert caught.value.code == 400 and "call-99" in str(caught.value.message)
    with pytest.raises(errors.ClientError, match="number of function response parts"):
        client.models.generate_content(
            model=MODEL, contents=[*history, answers(calls[:1], [{}])], config=cfg
        )

    outputs = [{"result": 5}, {"timezone": "Europe/Paris", "iso": "2026-01-01T12:00:00+01:00"}]
    history.append(answers(calls, outputs))
    final = client.models.generate_content(model=MODEL, contents=history, config=cfg)
    assert final.text is not None
    assert "The answer is 5." in final.text
    assert "2026-01-01T12:00:00+01:00" in final.text


def test_call_directives_run_one_step_each_then_summarise(client: genai.Client) -> None:
    cfg = config(declaration("lookup", key="string"), declaration("store", key="string"))
    prompt = 'go [[call lookup {"key": "a"}]] [[call store {"key": "b", "n": [[1]]}]]'
    response, turns = run_loop(client, prompt, cfg, lambda c: {"output": f"{c.name} ok"})
    assert [[(c.name, c.args) for c in t] for t in turns] == [
        [("lookup", {"key": "a"})],
        [("store", {"key": "b", "n": [[1]]})],
    ]
    assert [c.id for t in turns for c in t] == ["call-1", "call-2"]
    assert response.text == "The tool lookup returned lookup ok. The tool store returned store ok."


def test_parallel_directive_and_tool_errors_are_reported(client: genai.Client) -> None:
    cfg = config(declaration("lookup", key="string"))
    prompt = '[[parallel]] [[call lookup {"key": "a"}]] [[call lookup {"key": "b"}]]'

    def execute(call: types.FunctionCall) -> dict[str, Any]:
        return {"error": "no such key"} if call.args == {"key": "b"} else {"output": 1}

    response, turns = run_loop(client, prompt, cfg, execute)
    assert [len(t) for t in turns] == [2]
    assert response.text == "The tool lookup returned 1. The tool lookup failed: no such key."


def test_only_declared_tools_are_called_unless_forced(client: genai.Client) -> None:
    cfg = config(declaration("lookup", key="string"))
    refused = client.models.generate_content(
        model=MODEL, contents='[[call delete_all {"really": true}]]', config=cfg
    )
    assert refused.function_calls is None
    assert refused.text == "The tool delete_all is not declared, so it was not called."
    # Arithmetic without a calculator declared is just text.
    plain = client.models.generate_content(model=MODEL, contents="12*34", config=cfg)
    assert plain.function_calls is None
    forced = client.models.generate_content(
        model=MODEL, contents='[[force_call delete_all {"really": true}]]', config=cfg
    )
    assert [(c.name, c.args) for c in forced.function_calls or []] == [
        ("delete_all", {"really": True})
    ]
    none_mode = types.GenerateContentConfig(
        tools=cfg.tools,
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.NONE
            )
        ),
    )
    quiet = client.models.generate_content(
        model=MODEL, contents='[[call lookup {"key": "a"}]]', config=none_mode
    )
    assert quiet.function_calls is None


def test_natural_prompts_map_to_the_built_in_tools(client: genai.Client) -> None:
    cfg = config(*BUILT_INS)
    cases = {
        "What time is it?": [("current_time", {"timezone": "UTC"})],
        "Please remember that the launch is on Friday.": [
            ("remember", {"text": "the launch is on Friday"})
        ],
        "What do you remember about the launch?": [("recall", {"query": "the launch"})],
        "recall deadlines": [("recall", {"query": "deadlines"})],
        "Hello there": [],
    }
    for prompt, expected in cases.items():
        response = client.models.generate_content(model=MODEL, contents=prompt, config=cfg)
        assert [(c.name, c.args) for c in response.function_calls or []] == expected, prompt


def test_session_memory_answers_what_is_my_name(client: genai.Client) -> None:
    history = [
        user("Hi, my name is Ada Lovelace."),
        types.Content(role="model", parts=[types.Part(text="Hello Ada.")]),
        user("What is my name?"),
    ]
    response = client.models.generate_content(model=MODEL, contents=history)
    assert response.text == "Your name is Ada Lovelace."
    fresh = client.models.generate_content(model=MODEL, contents="What is my name?")
    assert fresh.text == "You have not told me your name."
    echo = client.models.generate_content(model=MODEL, contents="tell me a story " * 40)
    assert echo.text == "Emulated reply to: " + ("tell me a story " * 40).strip()[:200]


def test_retry_after_an_injected_429_succeeds(
    client_for: ClientFactory, raw: httpx2.Client
) -> None:
    prompt = "[[fault 429 x1]] hello after a rate limit"
    response = client_for(attempts=3).models.generate_content(model=MODEL, contents=prompt)
    assert response.text is not None and response.text.startswith("Emulated reply to:")
    assert stats(raw) == {"generateContent": {"200": 1, "429": 1}}


def test_429_without_retries_is_a_client_error(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents="[[fault 429 x1]] no retries")
    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"
    # The body's counter is spent: the same request now succeeds.
    assert client.models.generate_content(model=MODEL, contents="[[fault 429 x1]] no retries").text


def test_admin_503_exhausts_retries(client_for: ClientFactory, raw: httpx2.Client) -> None:
    assert raw.post("/_emulator/faults", json={"status": 503, "count": 5}).status_code == 200
    with pytest.raises(errors.ServerError) as caught:
        client_for(attempts=3).models.generate_content(model=MODEL, contents="hello")
    assert caught.value.code == 503 and caught.value.status == "UNAVAILABLE"
    assert stats(raw) == {"generateContent": {"503": 3}}
    assert raw.get("/_emulator/faults").json() == {"status": 503, "count": 2, "delay": 0.0}


def test_directive_500_exhausts_retries(client_for: ClientFactory, raw: httpx2.Client) -> None:
    with pytest.raises(errors.ServerError) as caught:
        client_for(attempts=2).models.generate_content(model=MODEL, contents="[[fault 500 x5]]")
    assert caught.value.code == 500 and caught.value.status == "INTERNAL"
    assert stats(raw) == {"generateContent": {"500": 2}}


def test_delay_directive_and_admin_delay_trip_the_client_timeout(
    client_for: ClientFactory, raw: httpx2.Client
) -> None:
    started = time.monotonic()
    slow = client_for(timeout_ms=5000).models.generate_content(
        model=MODEL, contents="[[delay 0.3]] slow"
    )
    assert slow.text and time.monotonic() - started >= 0.3
    with pytest.raises(httpx2.TimeoutException):
        client_for(timeout_ms=150).models.generate_content(model=MODEL, contents="[[delay 1]] x")
    raw.post("/_emulator/faults", json={"status": None, "count": 1, "delay": 1})
    with pytest.raises(httpx2.TimeoutException):
        client_for(timeout_ms=150).models.generate_content(model=MODEL, contents="admin delay")


def test_streaming_splits_the_answer_into_chunks_that_reassemble(client: genai.Client) -> None:
    prompt = "please write a sentence with quite a few words in it for streaming"
    whole = client.models.generate_content(model=MODEL, contents=prompt).text
    chunks = list(client.models.generate_content_stream(model=MODEL, contents=prompt))
    assert len(chunks) >= 3
    assert "".join(c.text or "" for c in chunks) == whole
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == "STOP"
    assert chunks[-1].usage_metadata and chunks[-1].usage_metadata.total_token_count
    assert all(c.usage_metadata is None for c in chunks[:-1])


def test_streamed_function_calls_arrive_in_one_chunk(client: genai.Client) -> None:
    chunks = list(
        client.models.generate_content_stream(
            model=MODEL, contents="[[parallel]] 1+1 and 2*2", config=config(*BUILT_INS)
        )
    )
    assert len(chunks) == 1
    assert [c.args for c in chunks[0].function_calls or []] == [
        {"expression": "1+1"},
        {"expression": "2*2"},
    ]


async def test_async_stream_and_stream_error(emulator_url: str) -> None:
    client = make_client(emulator_url)
    try:
        stream = await client.aio.models.generate_content_stream(
            model=MODEL, contents="one two three four five six seven eight"
        )
        texts = [chunk.text async for chunk in stream]
        assert (
            "".join(t or "" for t in texts)
            == "Emulated reply to: one two three four five six seven eight"
        )

        received: list[str | None] = []
        with pytest.raises(errors.ServerError) as caught:
            broken = await client.aio.models.generate_content_stream(
                model=MODEL, contents="[[stream_error]] one two three four five six seven"
            )
            async for chunk in broken:
                received.append(chunk.text)
        assert len(received) == 1 and caught.value.code == 500
        with pytest.raises(errors.ClientError) as limited:
            async for _ in await client.aio.models.generate_content_stream(
                model=MODEL, contents="[[stream_error 429]] a b c d e f"
            ):
                pass
        assert limited.value.status == "RESOURCE_EXHAUSTED"
        # Many concurrent requests are served and answered independently.
        replies = await asyncio.gather(
            *(client.aio.models.generate_content(model=MODEL, contents=f"n{i}") for i in range(30))
        )
        assert [r.text for r in replies] == [f"Emulated reply to: n{i}" for i in range(30)]
    finally:
        await client.aio.aclose()


def test_count_tokens_matches_the_prompt_usage(client: genai.Client) -> None:
    contents = "count the tokens of this short prompt please"
    counted = client.models.count_tokens(model=MODEL, contents=contents)
    usage = client.models.generate_content(model=MODEL, contents=contents).usage_metadata
    assert counted.total_tokens == usage.prompt_token_count == 11  # type: ignore[union-attr]


def test_api_key_is_enforced(keyed_emulator_url: str) -> None:
    good = make_client(keyed_emulator_url, api_key=EMULATOR_KEY)
    assert good.models.generate_content(model=MODEL, contents="hi").text == "Emulated reply to: hi"
    wrong = make_client(keyed_emulator_url, api_key="wrong")
    with pytest.raises(errors.ClientError) as caught:
        wrong.models.generate_content(model=MODEL, contents="hi")
    assert caught.value.code == 403 and caught.value.status == "PERMISSION_DENIED"
    with httpx2.Client(trust_env=False) as http:
        missing = http.post(
            f"{keyed_emulator_url}/v1beta/models/{MODEL}:generateContent",
            json={"contents": [{"parts": [{"text": "hi"}]}]},
        )
        assert missing.status_code == 401
        assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
        assert http.get(f"{keyed_emulator_url}/healthz").status_code == 200


def test_malformed_reply_makes_the_sdk_raise(client: genai.Client) -> None:
    with pytest.raises(json.JSONDecodeError):
        client.models.generate_content(model=MODEL, contents="[[malformed]]")
    with pytest.raises((json.JSONDecodeError, errors.APIError, errors.UnknownApiResponseError)):
        list(client.models.generate_content_stream(model=MODEL, contents="[[malformed]]"))


def test_unknown_api_version_is_a_google_404(emulator_url: str) -> None:
    client = genai.Client(
        api_key="k", http_options=types.HttpOptions(base_url=emulator_url, api_version="v9")
    )
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents="hi")
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"


def test_v1_is_served_too(emulator_url: str) -> None:
    client = genai.Client(
        api_key="k", http_options=types.HttpOptions(base_url=emulator_url, api_version="v1")
    )
    assert (
        client.models.generate_content(model=MODEL, contents="hi").text == "Emulated reply to: hi"
    )
