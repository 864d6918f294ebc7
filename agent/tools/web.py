"""http_get: fetch a page from an allow-listed host, never from an internal address.

Off unless HTTP_GET_ALLOWED_HOSTS is set. Every hop (the first request and each redirect) is
checked: scheme, allow-list, and every address the name resolves to must be public; the
connection then goes to the checked address, so a second DNS answer cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Annotated, Any
from urllib.parse import urljoin, urlsplit

import httpx2
from pydantic import Field

from agent.tools.registry import ToolContext, ToolError, tool

MAX_REDIRECTS = 3


def host_allowed(host: str, allowed: list[str]) -> bool:
    """Exact names, or `.example.com` entries that also admit subdomains."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        if entry.startswith("."):
            if host == entry[1:] or host.endswith(entry):
                return True
        elif host == entry:
            return True
    return False


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local)


async def resolve_public(host: str, port: int) -> str:
    """Resolve `host` and return one address, refusing if ANY answer is not public."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        addresses = [str(literal)]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ToolError(f"cannot resolve {host}: {exc}") from None
        addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise ToolError(f"{host} has no address")
    for address in addresses:
        if not address_is_public(address):
            raise ToolError(f"refused: {host} resolves to a non-public address ({address})")
    return addresses[0]


def _target(url: str, allowed: list[str]) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ToolError("only http and https URLs are allowed")
    if not parts.hostname:
        raise ToolError("URL has no host")
    if parts.username or parts.password:
        raise ToolError("credentials in URLs are not allowed")
    if not host_allowed(parts.hostname, allowed):
        raise ToolError(f"host {parts.hostname} is not on the allow-list")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port


async def fetch(url: str, allowed: list[str], max_bytes: int, seconds: float) -> dict[str, Any]:
    async with asyncio.timeout(seconds):
        for _hop in range(MAX_REDIRECTS + 1):
            _scheme, host, port = _target(url, allowed)
            address = await resolve_public(host, port)
            # Connect to the checked address; keep Host/SNI as the name for TLS and vhosts.
            transport = httpx2.AsyncHTTPTransport(retries=0)
            async with httpx2.AsyncClient(
                transport=transport, timeout=seconds, follow_redirects=False, trust_env=False
            ) as client:
                request = client.build_request(
                    "GET", url, headers={"Host": host, "User-Agent": "gemini-agent/http_get"}
                )
                request.extensions["sni_hostname"] = host
                request.url = request.url.copy_with(host=address)
                async with _Streamed(client, request) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > max_bytes:
                            raise ToolError(f"response larger than {max_bytes} bytes")
                    return {
                        "url": url,
                        "status": response.status_code,
                        "content_type": response.headers.get("content-type", ""),
                        "body": body.decode(response.encoding or "utf-8", errors="replace"),
                    }
        raise ToolError(f"more than {MAX_REDIRECTS} redirects")


class _Streamed:
    """`client.send(..., stream=True)` as a context manager that always closes the body."""

    def __init__(self, client: httpx2.AsyncClient, request: httpx2.Request) -> None:
        self.client, self.request = client, request

    async def __aenter__(self) -> httpx2.Response:
        self.response = await self.client.send(self.request, stream=True)
        return self.response

    async def __aexit__(self, *exc: object) -> None:
        await self.response.aclose()


@tool(enabled=lambda s: bool(s.http_get_allowed_hosts))
async def http_get(
    url: Annotated[str, Field(min_length=8, max_length=2000, description="http(s) URL")],
    ctx: ToolContext,
) -> dict[str, Any]:
    """Fetch a web page (text) from an allow-listed host."""
    s = ctx.settings
    try:
        return await fetch(
            url, s.http_get_allowed_hosts, s.http_get_max_bytes, s.http_get_timeout_seconds
        )
    except TimeoutError:
        raise ToolError(f"timed out after {s.http_get_timeout_seconds:g} s") from None
    except httpx2.HTTPError as exc:
        raise ToolError(f"request failed: {exc}") from None
