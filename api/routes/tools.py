"""GET /tools: what the model may call here."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import Caller, RuntimeDep
from api.errors import problems
from api.schemas import ToolList, ToolOut

router = APIRouter(prefix="/api/v1", tags=["tools"])


@router.get(
    "/tools",
    operation_id="listTools",
    summary="Tools enabled on this service, with their argument schemas",
    responses=problems(401, 429),
)
async def list_tools(who: Caller, rt: RuntimeDep) -> ToolList:
    return ToolList(
        tools=[
            ToolOut(
                name=t.name,
                description=t.description,
                parameters=t.parameters_schema(),
                pure=t.pure,
            )
            for t in rt.tools.available(rt.settings)
        ]
    )
