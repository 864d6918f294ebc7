"""Request checks shared by the routes that take a JSON body."""

from __future__ import annotations

from fastapi import Request

from api.errors import ProblemError


async def json_body(request: Request) -> None:
    """415 for a body that is not declared as JSON (FastAPI would guess otherwise)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    ctype = request.headers.get("content-type", "")
    media = ctype.split(";", 1)[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        if media or request.headers.get("content-length", "0") not in ("", "0"):
            raise ProblemError(415, "send the body as application/json")
