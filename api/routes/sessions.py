"""Sessions: list, read with messages, delete."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from agent.stores.base import Session
from api.auth import Caller, RuntimeDep
from api.errors import ProblemError, problems
from api.schemas import SessionDetail, SessionList, TurnOut

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"])


def _summary(s: Session) -> dict[str, object]:
    return {
        "session_id": s.id,
        "title": s.title[:200],
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "turn_count": s.turn_count,
    }


@router.get(
    "",
    operation_id="listSessions",
    summary="This key's sessions, most recently active first",
    responses=problems(401, 422, 429, 503),
)
async def list_sessions(
    who: Caller,
    rt: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> SessionList:
    sessions = await rt.backends.sessions.list(who.key_id, limit, offset)
    return SessionList.model_validate(
        {"sessions": [_summary(s) for s in sessions], "limit": limit, "offset": offset}
    )


@router.get(
    "/{session_id}",
    operation_id="getSession",
    summary="A session with its messages (each turn verbatim)",
    responses=problems(401, 404, 422, 429, 503),
)
async def get_session(
    session_id: UUID,
    who: Caller,
    rt: RuntimeDep,
    limit: Annotated[
        int | None, Query(ge=1, le=10_000, description="Only the last N turns")
    ] = None,
) -> SessionDetail:
    sessions = rt.backends.sessions
    s = await sessions.get(who.key_id, str(session_id))
    if s is None:
        raise ProblemError(404, "no such session")
    try:
        turns = await sessions.turns(who.key_id, str(session_id), limit=limit)
    except KeyError:
        raise ProblemError(404, "no such session") from None
    messages = [
        TurnOut(
            seq=t.seq,
            role=str(t.content.get("role", "")),
            parts=list(t.content.get("parts", [])),
            created_at=t.created_at,
        )
        for t in turns
    ]
    return SessionDetail.model_validate({**_summary(s), "messages": messages})


@router.delete(
    "/{session_id}",
    operation_id="deleteSession",
    summary="Delete a session and its messages",
    status_code=204,
    response_class=Response,
    responses=problems(401, 404, 422, 429, 503),
)
async def delete_session(session_id: UUID, who: Caller, rt: RuntimeDep) -> Response:
    if not await rt.backends.sessions.delete(who.key_id, str(session_id)):
        raise ProblemError(404, "no such session")
    return Response(status_code=204)
