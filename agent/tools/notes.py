"""remember / recall: long-term notes kept per API key in the note store."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from agent.tools.registry import ToolContext, tool


@tool(timeout=5.0)
async def remember(
    text: Annotated[str, Field(min_length=1, max_length=2000, description="The fact to keep")],
    ctx: ToolContext,
) -> dict[str, Any]:
    """Save a note to long-term memory so it can be recalled in later conversations."""
    note = await ctx.notes.add(ctx.owner, text)
    return {"saved": True, "id": note.id}


@tool(timeout=5.0)
async def recall(
    query: Annotated[str, Field(max_length=500, description="Words to look for")],
    ctx: ToolContext,
    limit: Annotated[int, Field(ge=1, le=20)] = 5,
) -> dict[str, Any]:
    """Search long-term memory notes; an empty query lists the newest notes."""
    notes = await ctx.notes.search(ctx.owner, query, limit)
    return {"notes": [{"text": n.text, "saved_at": n.created_at.isoformat()} for n in notes]}
