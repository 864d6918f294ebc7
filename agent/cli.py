"""The `agent` command: serve, worker, migrate, emulator, chat, healthcheck."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import urllib.error
import urllib.request

from agent.logs import setup_logging
from agent.settings import ConfigError, Settings, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"agent: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def serve(args: argparse.Namespace) -> int:
    from agent.server import run

    settings = _settings()
    setup_logging(settings.log_level, settings.log_format)
    run(
        # An import string keeps agent/ free of imports from api/.
        app="api.app:create_app",
        host=args.host or settings.host,
        port=args.port or settings.port,
        grace_seconds=args.grace,
        read_timeout_seconds=args.read_timeout,
    )
    return 0


def worker(args: argparse.Namespace) -> int:
    from agent.runtime import Runtime
    from agent.stores.base import StoreUnavailable
    from agent.worker import Worker

    settings = _settings()
    setup_logging(settings.log_level, settings.log_format)

    async def main() -> None:
        try:
            rt = await Runtime.open(settings)
        except StoreUnavailable as exc:
            print(f"agent worker: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await Worker(rt, concurrency=args.concurrency).run(stop)
        finally:
            await rt.aclose()

    asyncio.run(main())
    return 0


def migrate(args: argparse.Namespace) -> int:
    settings = _settings()
    setup_logging(settings.log_level, settings.log_format)
    if settings.database_url is None:
        print("agent migrate: DATABASE_URL is not set", file=sys.stderr)
        return 2
    from agent.stores.base import StoreUnavailable
    from agent.stores.postgres import migrate as run_migrations

    try:
        applied = asyncio.run(run_migrations(settings.database_url.get_secret_value(), wait=30))
    except StoreUnavailable as exc:
        print(f"agent migrate: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"applied": applied}))
    return 0


def emulator(args: argparse.Namespace) -> int:
    from agent.emulator import serve as serve_emulator

    setup_logging("info", "json")
    serve_emulator(host=args.host, port=args.port, api_key=os.environ.get("EMULATOR_API_KEY"))
    return 0


def chat(args: argparse.Namespace) -> int:
    """A small client for a running service: one message, or a prompt loop on stdin."""
    import httpx2

    headers = {"X-API-Key": args.key} if args.key else {}
    session_id = args.session
    with httpx2.Client(base_url=args.url, headers=headers, timeout=120, trust_env=False) as client:

        def send(message: str) -> int:
            nonlocal session_id
            body: dict[str, object] = {"message": message}
            if session_id:
                body["session_id"] = session_id
            r = client.post("/api/v1/chat", json=body)
            if r.status_code != 200:
                print(f"error {r.status_code}: {r.text}", file=sys.stderr)
                return 1
            data = r.json()
            session_id = data["session_id"]
            print(data["response"])
            return 0

        if args.message:
            return send(" ".join(args.message))
        for line in sys.stdin:
            if line.strip():
                send(line.strip())
    return 0


def healthcheck(args: argparse.Namespace) -> int:
    port = os.environ.get("PORT", "8080")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=args.timeout) as r:
            return 0 if r.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agent", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the HTTP API")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--grace", type=int, default=20, help="seconds to finish in-flight requests")
    p.add_argument(
        "--read-timeout",
        type=float,
        default=15.0,
        help="seconds a client has to send a request's headers and body (slow clients get 408)",
    )
    p.set_defaults(func=serve)

    p = sub.add_parser("worker", help="run task workers in this process")
    p.add_argument("--concurrency", type=int)
    p.set_defaults(func=worker)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.set_defaults(func=migrate)

    p = sub.add_parser("emulator", help="serve the offline Gemini API emulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.set_defaults(func=emulator)

    p = sub.add_parser("chat", help="talk to a running service")
    p.add_argument("message", nargs="*")
    p.add_argument("--url", default=os.environ.get("AGENT_URL", "http://127.0.0.1:8080"))
    p.add_argument("--key", default=os.environ.get("AGENT_API_KEY"))
    p.add_argument("--session")
    p.set_defaults(func=chat)

    p = sub.add_parser("healthcheck", help="exit 0 when this container's /ready is 200")
    p.add_argument("--timeout", type=float, default=2.5)
    p.set_defaults(func=healthcheck)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
