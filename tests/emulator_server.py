"""Runs the Gemini emulator on 127.0.0.1 in a background thread, for any test folder.

Use `with running_emulator(api_key=...) as base_url:` in a fixture (tests/emulator/conftest.py
shows one) and point `genai.Client(http_options=HttpOptions(base_url=base_url, ...))` at it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from agent.emulator import create_app

LOCAL_HOSTS = "127.0.0.1,localhost,::1"


def bypass_proxies() -> None:
    """google-genai honours proxy variables; local traffic must never leave the machine."""
    for name in ("NO_PROXY", "no_proxy"):
        current = [h for h in os.environ.get(name, "").split(",") if h]
        os.environ[name] = ",".join(dict.fromkeys([*LOCAL_HOSTS.split(","), *current]))


@contextmanager
def running_emulator(api_key: str | None = None, seed: int = 0) -> Iterator[str]:
    """Yields the emulator's base URL (http://127.0.0.1:PORT) while it serves."""
    bypass_proxies()
    # Binding port 0 here and handing uvicorn the socket avoids a race for a "free" port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(api_key=api_key, seed=seed),
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="gemini-emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Gemini emulator did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
