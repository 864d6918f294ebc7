"""The manual function-calling loop: model turn -> concurrent tool calls -> results -> ...

Model turns are kept verbatim (call ids, thought signatures) and handed to `on_turn` as they
happen, so a caller can persist each one before the next model call. Events (step, tool_call,
tool_result, final) go to `on_event` for SSE streams. The loop never makes more than
`max_steps` model calls, and every function call in the history gets a function response,
even when the step budget runs out, so a persisted history is always valid to resend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from google.genai import types

from agent.tools.registry import JSON, Tool, ToolContext, call_tool


class ModelPort(Protocol):
    async def generate(
        self,
        contents: list[types.Content],
        *,
        system_prompt: str,
        tools: list[types.FunctionDeclaration],
    ) -> types.GenerateContentResponse: ...


@dataclass(frozen=True)
class LoopEvent:
    type: Literal["step", "tool_call", "tool_result", "final"]
    data: JSON


@dataclass
class LoopResult:
    text: str
    steps: int
    tokens: int
    stopped: Literal["final", "max_steps", "cancelled"]
    tool_calls: list[JSON] = field(default_factory=list)
    # True when every tool called is pure and succeeded: the answer may be cached.
    cacheable: bool = True


OnTurn = Callable[[types.Content, int], Awaitable[None]]
OnEvent = Callable[[LoopEvent], Awaitable[None]]


def pending_calls(history: Sequence[types.Content]) -> list[types.FunctionCall]:
    """Function calls in a trailing model turn that have no response yet."""
    if not history or history[-1].role != "model":
        return []
    return [p.function_call for p in history[-1].parts or [] if p.function_call is not None]


def count_model_turns(history: Sequence[types.Content]) -> int:
    return sum(1 for c in history if c.role == "model")


async def run_steps(
    model: ModelPort,
    history: list[types.Content],
    *,
    tools: list[Tool],
    ctx: ToolContext,
    max_steps: int,
    system_prompt: str,
    tool_timeout: float,
    on_turn: OnTurn,
    on_event: OnEvent | None = None,
    should_stop: Callable[[], Awaitable[bool]] | None = None,
    steps_done: int = 0,
) -> LoopResult:
    """Run until the model answers without calling tools, or `max_steps` model calls."""
    allowed = {t.name: t for t in tools}
    declarations = [t.declaration() for t in tools]
    result = LoopResult(text="", steps=steps_done, tokens=0, stopped="final")

    async def emit(kind: Literal["step", "tool_call", "tool_result", "final"], data: JSON) -> None:
        if on_event is not None:
            await on_event(LoopEvent(kind, data))

    async def run_one(call: types.FunctionCall, budget_left: bool) -> JSON:
        name = call.name or ""
        args: JSON = dict(call.args or {})
        await emit("tool_call", {"id": call.id, "name": name, "args": args})
        tool = allowed.get(name)
        if not budget_left:
            output: JSON = {"error": "not run: the step limit was reached"}
        elif tool is None:
            output = {"error": f"tool {name!r} is not available for this request"}
        else:
            output = await call_tool(tool, args, ctx, tool_timeout)
        if tool is None or not tool.pure or "error" in output:
            result.cacheable = False
        result.tool_calls.append({"id": call.id, "name": name, "args": args, "result": output})
        await emit("tool_result", {"id": call.id, "name": name, "result": output})
        return output

    while True:
        calls = pending_calls(history)
        if calls:
            budget_left = result.steps < max_steps
            outputs = await asyncio.gather(*(run_one(c, budget_left) for c in calls))
            reply = types.Content(
                role="user",
                parts=[
                    types.Part(
                        function_response=types.FunctionResponse(id=c.id, name=c.name, response=out)
                    )
                    for c, out in zip(calls, outputs, strict=True)
                ],
            )
            await on_turn(reply, 0)
            history.append(reply)
            if not budget_left:
                result.stopped = "max_steps"
                result.text = f"Stopped after {result.steps} steps without a final answer."
                break
            continue
        if should_stop is not None and await should_stop():
            result.stopped = "cancelled"
            break
        if result.steps >= max_steps:
            result.stopped = "max_steps"
            result.text = f"Stopped after {result.steps} steps without a final answer."
            break
        result.steps += 1
        await emit("step", {"step": result.steps, "max_steps": max_steps})
        # The last step offers no tools, so the model has to answer in words.
        last = result.steps >= max_steps
        response = await model.generate(
            history, system_prompt=system_prompt, tools=[] if last else declarations
        )
        tokens = _tokens(response)
        result.tokens += tokens
        content = _model_turn(response)
        if content is None:
            result.text = _no_answer(response)
            break
        await on_turn(content, tokens)
        history.append(content)
        if not pending_calls(history):
            result.text = "".join(p.text for p in content.parts or [] if p.text and not p.thought)
            break
    await emit(
        "final",
        {
            "text": result.text,
            "steps": result.steps,
            "tokens": result.tokens,
            "stopped": result.stopped,
        },
    )
    return result


def _tokens(response: types.GenerateContentResponse) -> int:
    usage = response.usage_metadata
    return int(usage.total_token_count or 0) if usage is not None else 0


def _model_turn(response: types.GenerateContentResponse) -> types.Content | None:
    if not response.candidates:
        return None
    content = response.candidates[0].content
    if content is None or not content.parts:
        return None
    if content.role != "model":
        content = content.model_copy(update={"role": "model"})
    return content


def _no_answer(response: types.GenerateContentResponse) -> str:
    feedback: Any = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        return f"(no answer: the prompt was blocked: {feedback.block_reason})"
    if response.candidates and response.candidates[0].finish_reason is not None:
        return f"(no answer: {response.candidates[0].finish_reason})"
    return "(no answer)"


def content_to_json(content: types.Content) -> JSON:
    return content.model_dump(mode="json", exclude_none=True)


def content_from_json(data: JSON) -> types.Content:
    return types.Content.model_validate(data)


def sanitize_history(history: list[types.Content]) -> list[types.Content]:
    """Drop model turns whose calls never got results (an exchange cut off by a crash or a
    restart, at the end or, once the conversation went on, in the middle), so the history
    is always valid to send to the model again."""
    out: list[types.Content] = []
    for i, content in enumerate(history):
        if content.role == "model" and pending_calls([content]):
            following = history[i + 1] if i + 1 < len(history) else None
            answered = following is not None and any(
                p.function_response is not None for p in following.parts or []
            )
            if not answered:
                continue
        out.append(content)
    return out
