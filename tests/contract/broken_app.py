"""The real app with one route breaking its documented contract, to prove the fuzzing fails."""

from __future__ import annotations

import json
import re
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.settings import Settings
from api.app import create_app

BROKEN_PATH = "/api/v1/tools"
Breakage = Literal["wrong-type", "server-error", "ignores-owner"]
OWNED_READ = re.compile(r"^/api/v1/(tasks|sessions)/[^/]+$")


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


class IgnoreOwner:
    """Reads of one task or session as `peer` are answered as `owner`: a missing ownership check."""

    def __init__(self, app: ASGIApp, peer_key: str, owner_key: str) -> None:
        self.app = app
        self.peer_key = peer_key.encode()
        self.owner_key = owner_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and OWNED_READ.match(scope["path"]):
            headers = [
                (name, self.owner_key if name == b"x-api-key" and value == self.peer_key else value)
                for name, value in scope["headers"]
            ]
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


def broken_app(settings: Settings, breakage: Breakage, keys: dict[str, str]) -> ASGIApp:
    app = create_app(settings)
    if breakage == "ignores-owner":
        app.add_middleware(IgnoreOwner, peer_key=keys["bob"], owner_key=keys["alice"])
    else:
        app.add_middleware(BreakTools, breakage=breakage)
    return app
