"""POST /chat and POST /chat/stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Depends
from sse_starlette import EventSourceResponse, ServerSentEvent

from agent.chat import ChatOutcome, SessionNotFound, chat, select_tools
from agent.loop import LoopEvent
from agent.model import ModelError
from agent.stores.base import StoreUnavailable
from api.auth import Caller, RuntimeDep
from api.errors import ProblemError, problems
from api.requests import json_body
from api.schemas import SSE_EVENT, ChatRequest, ChatResponse

router = APIRouter(prefix="/api/v1", tags=["chat"], dependencies=[Depends(json_body)])

# Less than compose's default stop timeout (10 s), so the error event goes out before a kill.
SHUTDOWN_DRAIN_SECONDS = 6.0

SESSION_LINKS = {
    "GetSession": {
        "operationId": "getSession",
        "parameters": {"session_id": "$response.body#/session_id"},
    },
    "DeleteSession": {
        "operationId": "deleteSession",
        "parameters": {"session_id": "$response.body#/session_id"},
    },
}


def _response(outcome: ChatOutcome, model_label: str) -> ChatResponse:
    return ChatResponse.model_validate(
        {
            "response": outcome.text,
            "session_id": outcome.session_id,
            "tokens_used": outcome.tokens,
            "cached": outcome.cached,
            "model": model_label,
            "steps_taken": outcome.steps,
            "tool_calls": outcome.tool_calls,
        }
    )


@router.post(
    "/chat",
    operation_id="chat",
    summary="Send a message; the agent answers, using tools as needed",
    responses={
        200: {"links": SESSION_LINKS},
        **problems(400, 401, 404, 413, 415, 422, 429, 502, 503, 504),
    },
)
async def post_chat(body: ChatRequest, who: Caller, rt: RuntimeDep) -> ChatResponse:
    outcome = await chat(
        rt,
        who.key_id,
        body.message,
        session_id=str(body.session_id) if body.session_id else None,
        context=body.context,
        tool_names=body.tools,
        max_steps=body.max_steps,
    )
    return _response(outcome, rt.model.label)


def _sse(event: str, data: Any) -> ServerSentEvent:
    return ServerSentEvent(event=event, data=json.dumps(data, default=str))


@router.post(
    "/chat/stream",
    operation_id="chatStream",
    summary="Like /chat, as Server-Sent Events while the loop runs",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "Events: step, tool_call, tool_result, final, done "
            "(the /chat body), or error (a problem document)",
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
        },
        **problems(400, 401, 404, 413, 415, 422, 429, 503),
    },
)
async def post_chat_stream(body: ChatRequest, who: Caller, rt: RuntimeDep) -> EventSourceResponse:
    # Everything that can be refused is checked before the 200 starts the stream.
    select_tools(rt, body.tools)
    session_id = str(body.session_id) if body.session_id else None
    if session_id is not None and await rt.backends.sessions.get(who.key_id, session_id) is None:
        raise SessionNotFound(session_id)
    queue: asyncio.Queue[ServerSentEvent | None] = asyncio.Queue()

    async def on_event(event: LoopEvent) -> None:
        await queue.put(_sse(event.type, event.data))

    async def run() -> None:
        try:
            outcome = await chat(
                rt,
                who.key_id,
                body.message,
                session_id=session_id,
                context=body.context,
                tool_names=body.tools,
                max_steps=body.max_steps,
                on_event=on_event,
            )
            await queue.put(
                _sse("done", _response(outcome, rt.model.label).model_dump(mode="json"))
            )
        except ModelError as exc:
            await queue.put(
                _sse("error", {"status": exc.status, "title": "Model error", "detail": exc.detail})
            )
        except StoreUnavailable:
            await queue.put(
                _sse(
                    "error",
                    {
                        "status": 503,
                        "title": "Service Unavailable",
                        "detail": "storage is unavailable",
                    },
                )
            )
        except ProblemError as exc:
            await queue.put(
                _sse("error", {"status": exc.status, "title": exc.title, "detail": exc.detail})
            )
        finally:
            await queue.put(None)

    # The exchange runs in its own task: a client that disconnects does not cut a turn in
    # half; the loop finishes and the session stays consistent.
    job = asyncio.create_task(run())
    rt_jobs: set[asyncio.Task[None]] = rt.background
    rt_jobs.add(job)
    job.add_done_callback(rt_jobs.discard)

    shutdown = anyio.Event()

    async def events() -> AsyncIterator[ServerSentEvent]:
        # On server shutdown the exchange gets SHUTDOWN_DRAIN_SECONDS to finish on this
        # stream; past that the client gets a clear error event, never a silent cut.
        deadline: float | None = None
        while True:
            if shutdown.is_set() and deadline is None:
                deadline = anyio.current_time() + SHUTDOWN_DRAIN_SECONDS
            wait = 0.5 if deadline is None else max(0.0, deadline - anyio.current_time())
            try:
                item = await asyncio.wait_for(queue.get(), timeout=wait)
            except TimeoutError:
                if deadline is not None and anyio.current_time() >= deadline:
                    yield _sse(
                        "error",
                        {
                            "status": 503,
                            "title": "Service Unavailable",
                            "detail": "the server is shutting down; the exchange finishes in "
                            "the background and is kept in the session",
                        },
                    )
                    return
                continue
            if item is None:
                return
            yield item

    return EventSourceResponse(
        events(),
        ping=15,
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_DRAIN_SECONDS + 1,
    )
