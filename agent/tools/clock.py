"""current_time: the time now in an IANA time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from agent.tools.registry import ToolError, tool


@tool(timeout=2.0)
async def current_time(
    timezone: Annotated[
        str, Field(max_length=64, description="IANA time zone, e.g. 'Europe/Paris'")
    ] = "UTC",
) -> dict[str, Any]:
    """The current date and time in the given IANA time zone."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ToolError(f"unknown time zone {timezone!r}; use an IANA name") from None
    now = datetime.now(UTC).astimezone(zone)
    return {"timezone": timezone, "iso": now.isoformat(), "weekday": now.strftime("%A")}
