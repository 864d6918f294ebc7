"""http_get's limits, in-process: DNS names resolving to internal addresses, redirects into
them, and the size and time limits.

Tests may only reach loopback, so a local server stands in for "a public site": only the
address check for 127.0.0.1 is relaxed, and only for the server's own hops. Everything else
(resolution, the checks of every other address, redirects, streaming limits) is the tool's
real code. tests/core/test_tools.py covers literal addresses and the first redirect case.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agent.tools import ToolError, web


class Site(BaseHTTPRequestHandler):
    """/big: 1 MB; /slow: a byte a second; /to?u=URL: redirect; otherwise a short page."""

    def do_GET(self) -> None:
        if self.path.startswith("/to?u="):
            self.send_response(302)
            self.send_header("Location", self.path[len("/to?u=") :])
            self.end_headers()
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(1_000_000))
            self.end_headers()
            try:
                self.wfile.write(b"x" * 1_000_000)
            except OSError:
                pass  # the tool hung up once it had seen enough
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                pass
        else:
            body = b"hello"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    real_public = web.address_is_public
    real_getaddrinfo = socket.getaddrinfo
    names = {
        "site.test": ["127.0.0.1"],
        "intranet.test": ["10.20.30.40"],
        "metadata.test": ["169.254.169.254"],
        "v6-local.test": ["fd00::7"],
        # One public answer does not excuse a private one.
        "mixed.test": ["93.184.216.34", "192.168.1.10"],
    }

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in names:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port or 0),
                )
                for a in names[host]
            ]
        return real_getaddrinfo(host, port, *args, **kwargs)

    def public(address: str) -> bool:
        return address == "127.0.0.1" or real_public(address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(web, "address_is_public", public)
    yield f"http://site.test:{server.server_address[1]}"
    server.shutdown()


ALLOWED = [
    "site.test",
    "intranet.test",
    "metadata.test",
    "v6-local.test",
    "mixed.test",
    "169.254.169.254",
    "10.0.0.1",
]


async def test_the_stand_in_site_is_reachable(site: str) -> None:
    out = await web.fetch(site + "/", ALLOWED, 1000, 5)
    assert out["status"] == 200 and out["body"] == "hello"


@pytest.mark.parametrize("host", ["intranet.test", "metadata.test", "v6-local.test", "mixed.test"])
async def test_names_resolving_to_internal_addresses_are_refused(site: str, host: str) -> None:
    with pytest.raises(ToolError, match="non-public"):
        await web.fetch(f"http://{host}/", ALLOWED, 1000, 5)


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://intranet.test/",
        "http://metadata.test:8080/x",
    ],
)
async def test_redirects_into_internal_addresses_are_refused(site: str, target: str) -> None:
    with pytest.raises(ToolError, match="non-public"):
        await web.fetch(f"{site}/to?u={target}", ALLOWED, 1000, 5)


async def test_redirects_off_the_allow_list_and_loops_are_refused(site: str) -> None:
    with pytest.raises(ToolError, match="not on the allow-list"):
        await web.fetch(f"{site}/to?u=http://elsewhere.test/", ALLOWED, 1000, 5)
    loop = f"{site}/to?u={site}/to?u={site}/to?u={site}/to?u={site}/"
    with pytest.raises(ToolError, match="redirects"):
        await web.fetch(loop, ALLOWED, 1000, 5)


async def test_size_limit_stops_reading(site: str) -> None:
    started = time.monotonic()
    with pytest.raises(ToolError, match="larger than 4096 bytes"):
        await web.fetch(site + "/big", ALLOWED, 4096, 5)
    assert time.monotonic() - started < 3


async def test_time_limit_cuts_a_slow_site(site: str) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await web.fetch(site + "/slow", ALLOWED, 1000, 1.5)
    assert time.monotonic() - started < 3


async def test_the_tool_reports_the_limits_as_errors(site: str) -> None:
    from agent.stores.memory import MemoryNoteStore
    from agent.tools import ToolContext
    from agent.tools import registry as default_registry
    from agent.tools.registry import call_tool
    from tests.core.conftest import settings_for

    tool = default_registry.get("http_get")
    assert tool is not None
    settings = settings_for(
        http_get_allowed_hosts=",".join(ALLOWED),
        http_get_max_bytes=2048,
        http_get_timeout_seconds=1.0,
    )
    ctx = ToolContext("alice", MemoryNoteStore(), settings)
    slow, big = await asyncio.gather(
        call_tool(tool, {"url": site + "/slow"}, ctx, 10),
        call_tool(tool, {"url": site + "/big"}, ctx, 10),
    )
    assert "timed out after 1 s" in slow["error"], slow
    assert "larger than 2048 bytes" in big["error"], big
