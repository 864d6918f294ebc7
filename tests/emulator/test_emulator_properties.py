"""Properties: any text prompt gets a well-formed 200 the SDK parses; helpers keep their laws."""

from __future__ import annotations

from typing import Any

from google import genai
from google.genai import types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.emulator import normalise, snake_case, text_chunks

DECLARED = {"calculator", "current_time", "remember", "recall"}
TOOLS = [
    types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name=name, description=name, parameters_json_schema={"type": "object"}
            )
            for name in sorted(DECLARED)
        ]
    )
]

prompts = st.one_of(
    st.text(max_size=300),
    # Fragments that trigger the script, mixed with arbitrary text.
    st.lists(
        st.sampled_from(
            [
                "12*34",
                " what time is it in Asia/Tokyo",
                "remember that ",
                "recall ",
                "my name is ",
                "(1+2)**3",
                "??",
                "[[",
                "]]",
                "\u2028",
                "é",
                "  ",
                "\n",
                "1/0",
                "-",
                ".",
            ]
        )
        | st.text(max_size=20),
        max_size=8,
    ).map("".join),
).filter(lambda text: "[[" not in text)  # directives are covered by their own tests


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(prompt=prompts)
def test_any_text_prompt_gets_a_parsable_200(client: genai.Client, prompt: str) -> None:
    cfg = types.GenerateContentConfig(
        tools=TOOLS, automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
    )
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=[types.Content(role="user", parts=[types.Part(text=prompt)])],
        config=cfg,
    )
    assert response.candidates and response.candidates[0].finish_reason == "STOP"
    calls = response.function_calls or []
    assert {c.name for c in calls} <= DECLARED
    assert all(isinstance(c.args, dict) for c in calls)
    assert len({c.id for c in calls}) == len(calls)
    if not calls:
        assert response.text
    assert response.usage_metadata and (response.usage_metadata.total_token_count or 0) >= 2


@given(st.text())
def test_text_chunks_reassemble(text: str) -> None:
    chunks = text_chunks(text)
    assert "".join(chunks) == text
    assert 1 <= len(chunks) <= 4


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=50)
@given(args=st.dictionaries(st.text(max_size=8), json_values, max_size=4))
def test_normalise_keeps_caller_payloads_verbatim(args: dict[str, Any]) -> None:
    request = {"functionCall": {"name": "f", "args": args}, "functionResponse": {"response": args}}
    assert normalise(request) == {
        "function_call": {"name": "f", "args": args},
        "function_response": {"response": args},
    }
    assert normalise(normalise(request)) == normalise(request)


def test_snake_case_spellings() -> None:
    assert snake_case("systemInstruction") == "system_instruction"
    assert snake_case("parametersJsonSchema") == "parameters_json_schema"
    assert snake_case("function_declarations") == "function_declarations"
