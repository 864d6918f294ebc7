"""The HTTP server behind `agent serve`: uvicorn with two additions.

- A deadline for reading each request (headers and body): a client that trickles bytes
  (slow-loris) gets a 408 problem document and a closed connection instead of holding a
  connection open for ever. uvicorn itself only times out idle keep-alive connections.
- An early shutdown notice: on SIGTERM/SIGINT the app hears about it at once, before uvicorn
  waits for in-flight requests, so an in-process worker can hand its tasks back right away
  instead of after the grace period (or, if the process is then killed, the lease).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from types import FrameType

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

_shutdown_listeners: list[Callable[[], object]] = []


def on_shutdown_signal(callback: Callable[[], object]) -> Callable[[], None]:
    """Call `callback` (from the signal handler: keep it tiny and thread-safe) when the server
    is told to stop. Returns a function that removes it again."""
    _shutdown_listeners.append(callback)
    return lambda: _shutdown_listeners.remove(callback)


class _Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        for callback in list(_shutdown_listeners):
            callback()


def _timeout_response(seconds: float) -> bytes:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Request Timeout",
            "status": 408,
            "detail": f"the request was not received within {seconds:g} seconds",
        }
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


def read_deadline_protocol(seconds: float) -> type[HttpToolsProtocol]:
    """httptools' protocol with a deadline from the first byte of a request (or from the
    connection, for the first one) to its last body byte."""

    class ReadDeadlineProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(seconds, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            cycle = self.cycle
            if self.transport.is_closing():
                return
            if cycle is not None and cycle.response_started:
                if cycle.response_complete:
                    # Answered early (e.g. 413); the rest of the body is not worth waiting for.
                    self.transport.close()
                return  # still answering: the read side no longer matters
            log.info("request not received in time; closing", extra={"client": self.client})
            self.transport.write(_timeout_response(seconds))
            if cycle is not None and not cycle.response_complete:
                # The app may be waiting for the rest of the body: it sees a disconnect.
                cycle.disconnected = True
                cycle.message_event.set()
            self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            # Between requests the keep-alive timeout applies, not this deadline.
            if self.cycle is None or not self.cycle.more_body:
                self._disarm()
            super().on_response_complete()

    return ReadDeadlineProtocol


def run(
    *,
    app: str,
    host: str,
    port: int,
    grace_seconds: int,
    read_timeout_seconds: float,
) -> None:
    config = uvicorn.Config(
        app,
        factory=True,
        host=host,
        port=port,
        loop="uvloop",
        http=read_deadline_protocol(read_timeout_seconds),
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        timeout_graceful_shutdown=grace_seconds,
        server_header=False,
    )
    _Server(config).run()
