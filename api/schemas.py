"""Request and response bodies. The seed-compatible fields are a hard contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import annotated_types
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints


def _no_bool_or_text(value: Any) -> Any:
    # JSON booleans and numeric strings are not integers here (pydantic's lax mode would
    # accept them).
    if isinstance(value, bool) or isinstance(value, str):
        raise ValueError("must be a JSON integer")
    return value


# Postgres text and jsonb cannot hold U+0000, so free text refuses it up front (422) instead
# of failing in the store (500).
NO_NUL = r"^[^\x00]*$"
StrictInt = Annotated[int, BeforeValidator(_no_bool_or_text)]
ToolName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
]
# Bounds go before the validator: pydantic only puts them in the JSON schema in that order.
MaxSteps = Annotated[
    int,
    annotated_types.Ge(1),
    annotated_types.Le(50),
    BeforeValidator(_no_bool_or_text),
    Field(description="Most model calls to make (1-50)"),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChatRequest(_In):
    # Schema examples: documentation, and the contract fuzzer's "examples" phase.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"message": "What is 12*34?", "tools": ["calculator"], "max_steps": 4},
                {"message": "Hello", "context": {"user": "Ada"}},
            ]
        },
    )

    message: str = Field(
        min_length=1, max_length=32_000, pattern=NO_NUL, description="The user's message"
    )
    session_id: UUID | None = Field(None, description="Continue this session; omit to start one")
    context: (
        dict[
            Annotated[str, StringConstraints(max_length=64, pattern=NO_NUL)],
            Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL)],
        ]
        | None
    ) = Field(None, max_length=20, description="Extra facts for this message (key: value)")
    tools: list[ToolName] | None = Field(
        None, max_length=32, description="Tools the model may use; omit for all enabled tools"
    )
    max_steps: MaxSteps = 8


class ToolCallOut(BaseModel):
    id: str | None = Field(None, max_length=200)
    name: str = Field(max_length=64)
    args: dict[str, Any]
    result: dict[str, Any]


class ChatResponse(BaseModel):
    response: str = Field(max_length=1_000_000)
    session_id: UUID
    tokens_used: int = Field(ge=0)
    cached: bool
    model: str = Field(
        max_length=200,
        description="The model that answered; says 'emulator' when the bundled emulator did",
    )
    steps_taken: int = Field(ge=0)
    tool_calls: list[ToolCallOut] = Field(max_length=1000)


class TaskRequest(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"task": "What is 2+2?", "tools": ["calculator"], "max_steps": 3}]
        },
    )

    task: str = Field(
        min_length=1, max_length=32_000, pattern=NO_NUL, description="What the agent should do"
    )
    tools: list[ToolName] | None = Field(None, max_length=32)
    max_steps: MaxSteps = 10


TaskStatusName = Literal["queued", "running", "completed", "failed", "cancelled"]


class TaskResponse(BaseModel):
    task_id: UUID
    status: TaskStatusName
    result: str | None = Field(None, max_length=1_000_000)
    steps_taken: int = Field(ge=0)
    error: str | None = Field(None, max_length=10_000)
    tokens_used: int = Field(0, ge=0)
    attempts: int = Field(0, ge=0)
    cancel_requested: bool = False
    created_at: AwareDatetime
    updated_at: AwareDatetime
    model: str = Field(max_length=200)


class TurnOut(BaseModel):
    seq: int = Field(ge=0)
    role: str = Field(max_length=20)
    parts: list[dict[str, Any]] = Field(max_length=1000)
    created_at: AwareDatetime


class SessionSummary(BaseModel):
    session_id: UUID
    title: str = Field(max_length=200)
    created_at: AwareDatetime
    updated_at: AwareDatetime
    turn_count: int = Field(ge=0)


class SessionDetail(SessionSummary):
    messages: list[TurnOut] = Field(max_length=100_000)


class SessionList(BaseModel):
    sessions: list[SessionSummary] = Field(max_length=100)
    limit: int
    offset: int


class ToolOut(BaseModel):
    name: str = Field(max_length=64)
    description: str = Field(max_length=4000)
    parameters: dict[str, Any]
    pure: bool


class ToolList(BaseModel):
    tools: list[ToolOut] = Field(max_length=1000)


class Health(BaseModel):
    status: Literal["healthy"]
    version: str = Field(max_length=50)
    environment: str = Field(max_length=20)
    model: str = Field(max_length=200)
    model_backend: Literal["gemini", "emulator"]
    auth: str = Field(max_length=50)
    database: str = Field(max_length=20)
    cache: str = Field(max_length=20)
    notices: list[Annotated[str, StringConstraints(max_length=500)]] = Field(max_length=20)


class Check(BaseModel):
    status: Literal["ok", "degraded", "down"]
    detail: str | None = Field(None, max_length=500)
    required: bool


class Ready(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Check]


def aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.astimezone()


# One Server-Sent Event as clients parse it; `data` is JSON text.
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "maxLength": 32},
        "data": {"type": "string", "maxLength": 2_000_000},
        "id": {"type": "string", "maxLength": 64},
        "retry": {"type": "integer", "minimum": 0},
    },
}
