"""The tool registry and the built-in tools, called the way the loop calls them."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Annotated, Any

import pytest
from pydantic import Field

from agent.stores.memory import MemoryNoteStore
from agent.tools import ToolContext, ToolError, ToolRegistry, web
from agent.tools import builtin as _builtin  # noqa: F401
from agent.tools import registry as default_registry
from agent.tools.registry import call_tool
from tests.core.conftest import settings_for


def ctx(owner: str = "alice", **overrides: Any) -> ToolContext:
    return ToolContext(owner=owner, notes=MemoryNoteStore(), settings=settings_for(**overrides))


def test_declaration_is_built_from_type_hints() -> None:
    reg = ToolRegistry()

    @reg.tool(timeout=1.0)
    async def lookup(
        city: Annotated[str, Field(description="A city")], days: int = 3, ctx: Any = None
    ) -> dict[str, Any]:
        """Weather for a city."""
        return {"city": city, "days": days}

    tool = reg.get("lookup")
    assert tool is not None and tool.wants_context
    decl = tool.declaration()
    assert decl.name == "lookup" and decl.description == "Weather for a city."
    schema = decl.parameters_json_schema
    assert schema["properties"]["city"] == {"type": "string", "description": "A city"}
    assert schema["properties"]["days"] == {"type": "integer", "default": 3}
    assert schema["required"] == ["city"]
    assert "ctx" not in schema["properties"]


def test_registry_refuses_sync_functions_and_untyped_parameters() -> None:
    reg = ToolRegistry()
    with pytest.raises(TypeError, match="async"):

        @reg.tool
        def sync(x: int) -> int:  # type: ignore[type-var]
            return x

    with pytest.raises(TypeError, match="type hint"):

        @reg.tool
        async def untyped(x) -> int:  # type: ignore[no-untyped-def]
            return 1


async def test_errors_timeouts_and_bad_arguments_become_results() -> None:
    reg = ToolRegistry()

    @reg.tool(timeout=0.05)
    async def slow(seconds: float) -> dict[str, Any]:
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    @reg.tool
    async def broken(x: int) -> dict[str, Any]:
        raise RuntimeError("kaput")

    @reg.tool
    async def refuses(x: int) -> dict[str, Any]:
        raise ToolError("not today")

    c = ctx()
    assert await call_tool(reg.get("slow"), {"seconds": 0.0}, c, 5) == {"slept": 0.0}  # type: ignore[arg-type]
    assert "timed out" in (await call_tool(reg.get("slow"), {"seconds": 1}, c, 5))["error"]  # type: ignore[arg-type]
    assert (await call_tool(reg.get("broken"), {"x": 1}, c, 5))["error"] == "RuntimeError: kaput"  # type: ignore[arg-type]
    assert (await call_tool(reg.get("refuses"), {"x": 1}, c, 5)) == {"error": "not today"}  # type: ignore[arg-type]
    bad = await call_tool(reg.get("broken"), {"x": "many", "y": 2}, c, 5)  # type: ignore[arg-type]
    assert (
        bad["error"].startswith("invalid arguments") and "x" in bad["error"] and "y" in bad["error"]
    )


async def test_builtins_calculator_time_and_notes_per_owner() -> None:
    calc = default_registry.get("calculator")
    assert calc is not None and calc.pure
    c = ctx()
    assert await call_tool(calc, {"expression": "12*34"}, c, 5) == {
        "expression": "12*34",
        "result": 408,
    }
    assert "division by zero" in (await call_tool(calc, {"expression": "1/0"}, c, 5))["error"]

    clock = default_registry.get("current_time")
    out = await call_tool(clock, {"timezone": "Asia/Tokyo"}, c, 5)  # type: ignore[arg-type]
    assert out["iso"].endswith("+09:00")
    assert "unknown time zone" in (await call_tool(clock, {"timezone": "Mars/Base"}, c, 5))["error"]  # type: ignore[arg-type]

    remember, recall = default_registry.get("remember"), default_registry.get("recall")
    notes = MemoryNoteStore()
    alice = ToolContext("alice", notes, c.settings)
    bob = ToolContext("bob", notes, c.settings)
    assert (await call_tool(remember, {"text": "the launch code is tulip"}, alice, 5))["saved"]  # type: ignore[arg-type]
    found = await call_tool(recall, {"query": "launch code"}, alice, 5)  # type: ignore[arg-type]
    assert [n["text"] for n in found["notes"]] == ["the launch code is tulip"]
    assert (await call_tool(recall, {"query": "launch code"}, bob, 5))["notes"] == []  # type: ignore[arg-type]


def test_extra_tools_load_from_modules_named_in_settings() -> None:
    settings = settings_for(tool_modules="tests.core.extra_tools")
    default_registry.load_modules(settings.tool_modules)
    assert default_registry.get("shout") is not None
    assert "shout" in [t.name for t in default_registry.available(settings)]


def test_http_get_is_off_without_an_allow_list() -> None:
    assert "http_get" not in [t.name for t in default_registry.available(settings_for())]
    on = settings_for(http_get_allowed_hosts="example.org")
    assert "http_get" in [t.name for t in default_registry.available(on)]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.5.4",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fc00::1",
        "0.0.0.0",
        "100.64.0.1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not web.address_is_public(address)


def test_public_addresses_pass() -> None:
    assert web.address_is_public("93.184.216.34") and web.address_is_public("2606:4700::1111")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://localhost:1/", "non-public"),  # a name that resolves to loopback
        ("http://127.0.0.1:1/", "not on the allow-list"),
        ("http://169.254.169.254/latest/meta-data/", "not on the allow-list"),
        ("file:///etc/passwd", "only http"),
        ("http://user:pw@localhost/", "credentials"),
        ("http://evil.example.net/", "not on the allow-list"),
    ],
)
async def test_http_get_refuses_internal_targets(url: str, message: str) -> None:
    tool = default_registry.get("http_get")
    c = ctx(http_get_allowed_hosts="localhost,.example.org")
    out = await call_tool(tool, {"url": url}, c, 5)  # type: ignore[arg-type]
    assert message in out["error"]


@pytest.fixture
def redirecting_server() -> Iterator[int]:
    """A local server whose every answer redirects to the cloud metadata address."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


async def test_http_get_rechecks_every_redirect(
    redirecting_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Let the first hop reach the local server as if it were public; the redirect target
    # must then be refused on its own merits.
    real = web.resolve_public

    async def first_hop_public(host: str, port: int) -> str:
        if host == "public.test":
            return "127.0.0.1"
        return await real(host, port)

    monkeypatch.setattr(web, "resolve_public", first_hop_public)
    with pytest.raises(ToolError, match="not on the allow-list"):
        await web.fetch(f"http://public.test:{redirecting_server}/", ["public.test"], 1000, 5)
    with pytest.raises(ToolError, match="non-public"):
        await web.fetch(
            f"http://public.test:{redirecting_server}/",
            ["public.test", "169.254.169.254"],
            1000,
            5,
        )


def test_resolution_of_a_loopback_name_is_refused() -> None:
    socket.getaddrinfo("localhost", 80)  # the machine resolves it
    with pytest.raises(ToolError, match="non-public"):
        asyncio.run(web.resolve_public("localhost", 80))
