"""Background tasks: create (idempotent), read, cancel, follow as SSE."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from agent.chat import select_tools
from agent.runtime import Runtime
from agent.stores.base import TERMINAL, Task
from agent.worker import WAKE_CHANNEL, task_channel
from api.auth import Caller, RuntimeDep
from api.errors import ProblemError, problems
from api.requests import json_body
from api.schemas import SSE_EVENT, TaskRequest, TaskResponse

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])

TASK_LINKS = {
    name: {"operationId": op, "parameters": {"task_id": "$response.body#/task_id"}}
    for name, op in (
        ("GetTask", "getTask"),
        ("CancelTask", "cancelTask"),
        ("TaskEvents", "taskEvents"),
    )
}
POLL_SECONDS = 1.0

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Retries with the same key and body return the same task",
    ),
]


def task_out(t: Task, rt: Runtime) -> TaskResponse:
    return TaskResponse.model_validate(
        {
            "task_id": t.id,
            "status": t.status,
            "result": t.result,
            "steps_taken": t.steps_taken,
            "error": t.error,
            "tokens_used": t.tokens_used,
            "attempts": t.attempts,
            "cancel_requested": t.cancel_requested,
            "created_at": t.created_at,
            "updated_at": t.updated_at,
            "model": rt.model.label,
        }
    )


async def _owned(rt: Runtime, owner: str, task_id: UUID) -> Task:
    t = await rt.backends.tasks.get(owner, str(task_id))
    if t is None:
        raise ProblemError(404, "no such task")
    return t


@router.post(
    "",
    operation_id="createTask",
    summary="Queue a task for the agent; workers run it in the background",
    dependencies=[Depends(json_body)],
    responses={
        200: {"links": TASK_LINKS},
        **problems(400, 401, 409, 413, 415, 422, 429, 503),
    },
)
async def create_task(
    body: TaskRequest, who: Caller, rt: RuntimeDep, idempotency_key: IdempotencyKey = None
) -> TaskResponse:
    select_tools(rt, body.tools)  # unknown tools are refused now, not when the task runs
    request_hash = hashlib.sha256(
        json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()
    task, _created = await rt.backends.tasks.enqueue(
        who.key_id,
        body.task,
        body.tools,
        body.max_steps,
        max_attempts=rt.settings.task_max_attempts,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    with contextlib.suppress(Exception):  # a missed wake-up only costs a poll interval
        await rt.backends.signals.publish(WAKE_CHANNEL, {"task_id": task.id})
    return task_out(task, rt)


@router.get(
    "/{task_id}",
    operation_id="getTask",
    summary="A task's status and result",
    responses=problems(401, 404, 422, 429, 503),
)
async def get_task(task_id: UUID, who: Caller, rt: RuntimeDep) -> TaskResponse:
    return task_out(await _owned(rt, who.key_id, task_id), rt)


@router.post(
    "/{task_id}/cancel",
    operation_id="cancelTask",
    summary="Cancel a task: queued ones at once, running ones within one step",
    responses=problems(401, 404, 422, 429, 503),
)
async def cancel_task(task_id: UUID, who: Caller, rt: RuntimeDep) -> TaskResponse:
    t = await rt.backends.tasks.request_cancel(who.key_id, str(task_id))
    if t is None:
        raise ProblemError(404, "no such task")
    with contextlib.suppress(Exception):
        await rt.backends.signals.publish(task_channel(t.id), {"type": "cancel"})
    return task_out(t, rt)


def _turn_event(seq: int, content: dict[str, Any]) -> ServerSentEvent:
    data = {"seq": seq, "role": content.get("role"), "parts": content.get("parts", [])}
    return ServerSentEvent(id=str(seq), event="turn", data=json.dumps(data))


@router.get(
    "/{task_id}/events",
    operation_id="taskEvents",
    summary="Follow a task as Server-Sent Events until it ends",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "Events: status (the task body), turn (each persisted step, id = "
            "its sequence number), end. Send Last-Event-ID to resume.",
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
        },
        **problems(401, 404, 422, 429, 503),
    },
)
async def task_events(
    task_id: UUID,
    request: Request,
    who: Caller,
    rt: RuntimeDep,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=64, description="Resume after this turn"),
    ] = None,
) -> EventSourceResponse:
    first = await _owned(rt, who.key_id, task_id)
    # An id this service did not send (not a sequence number) replays from the start.
    start = (
        int(last_event_id) + 1
        if last_event_id and last_event_id.isascii() and last_event_id.isdigit()
        else 0
    )

    async def events() -> AsyncIterator[ServerSentEvent]:
        # Postgres is the source of truth; a signal only says "look again now". If Redis is
        # gone the follower still sees everything, at the polling interval.
        next_seq = start
        last_status: str | None = None
        wake = asyncio.Event()

        async def listen() -> None:
            with contextlib.suppress(Exception):
                async with rt.backends.signals.subscribe(task_channel(first.id)) as messages:
                    async for _ in messages:
                        wake.set()

        listener = asyncio.create_task(listen())
        try:
            while True:
                t = await rt.backends.tasks.get(who.key_id, first.id)
                if t is None:
                    return
                for step in await rt.backends.tasks.steps(t.id):
                    if step.seq >= next_seq:
                        yield _turn_event(step.seq, step.content)
                        next_seq = step.seq + 1
                if t.status != last_status or t.status in TERMINAL:
                    last_status = t.status
                    yield ServerSentEvent(event="status", data=task_out(t, rt).model_dump_json())
                if t.status in TERMINAL:
                    yield ServerSentEvent(event="end", data=json.dumps({"status": t.status}))
                    return
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=POLL_SECONDS)
        finally:
            listener.cancel()

    return EventSourceResponse(events(), ping=15)
