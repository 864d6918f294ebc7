"""The real app with one route breaking its documented contract, to prove the fuzzing fails."""

from __future__ import annotations

import json
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.settings import Settings
from api.app import create_app

BROKEN_PATH = "/api/v1/tools"
Breakage = Literal["wrong-type", "server-error"]


class BreakTools:
    """After the real handler answers 200, send what the contract does not allow instead.

    The OpenAPI document is untouched, so the served answers contradict the documented ones,
    as a regression in the route would.
    """

    def __init__(self, app: ASGIApp, breakage: Breakage) -> None:
        self.app = app
        self.breakage = breakage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != BROKEN_PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        start: Message | None = None

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                if message["status"] != 200:
                    await send(message)
                return
            assert start is not None
            if start["status"] != 200:
                await send(message)
                return
            if message.get("more_body"):
                return
            if self.breakage == "wrong-type":
                # `tools` is documented as an array of objects.
                status, body = 200, {"tools": "calculator"}
                media = b"application/json"
            else:
                status = 500
                body = {"title": "Internal Server Error", "status": 500}
                media = b"application/problem+json"
            raw = json.dumps(body).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", media), (b"content-length", b"%d" % len(raw))],
                }
            )
            await send({"type": "http.response.body", "body": raw})

        await self.app(scope, receive, rewrite)


def broken_app(settings: Settings, breakage: Breakage) -> ASGIApp:
    app = create_app(settings)
    app.add_middleware(BreakTools, breakage=breakage)
    return app
