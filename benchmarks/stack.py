"""What a scenario runs against: the emulator, the API (memory or Postgres + Redis), workers,
and a bare app; all subprocesses on 127.0.0.1, all stopped by `close()`."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from benchmarks.processes import CpuMeter, Server, agent_argv, base_env, free_port, wait_http

MODEL = "gemini-2.5-flash"
EMULATOR_KEY = "bench-emulator-key"


class Stack:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._servers: list[Server] = []
        self._factory: object | None = None
        self._store_pids: dict[str, int] = {}
        self.emulator_url = ""
        self.database_url: str | None = None
        self.redis_url: str | None = None

    # --- processes -----------------------------------------------------------------------
    def _start(self, name: str, argv: list[str], env: dict[str, str], ready: str) -> Server:
        server = Server(name, argv, env, self.workdir)
        try:
            wait_http(ready, 60, server.proc)
        except Exception as exc:
            server.stop()
            raise RuntimeError(f"{name} did not start: {exc}\n{server.tail()}") from exc
        self._servers.append(server)
        return server

    def start_emulator(self) -> str:
        port = free_port()
        self._start(
            "emulator",
            agent_argv("emulator", "--host", "127.0.0.1", "--port", str(port)),
            base_env(EMULATOR_API_KEY=EMULATOR_KEY),
            f"http://127.0.0.1:{port}/healthz",
        )
        self.emulator_url = f"http://127.0.0.1:{port}"
        return self.emulator_url

    def service_env(self, *, real_stores: bool, **extra: str) -> dict[str, str]:
        env = base_env(
            GEMINI_BASE_URL=self.emulator_url,
            GEMINI_API_KEY=EMULATOR_KEY,
            GEMINI_MODEL=MODEL,
            RUN_WORKERS="false",
        )
        if real_stores:
            assert self.database_url and self.redis_url
            env.update(DATABASE_URL=self.database_url, REDIS_URL=self.redis_url)
        env.update(extra)
        return env

    def start_api(
        self, name: str, *, real_stores: bool, profile_to: Path | None = None, **extra: str
    ) -> tuple[Server, str]:
        port = free_port()
        server = self._start(
            name,
            agent_argv("serve", "--host", "127.0.0.1", "--port", str(port), profile_to=profile_to),
            self.service_env(real_stores=real_stores, **extra),
            f"http://127.0.0.1:{port}/ready",
        )
        return server, f"http://127.0.0.1:{port}"

    def start_worker(self, name: str, profile_to: Path | None = None, **extra: str) -> Server:
        server = Server(
            name,
            agent_argv("worker", profile_to=profile_to),
            self.service_env(real_stores=True, **extra),
            self.workdir,
        )
        self._servers.append(server)
        return server

    def start_bare(self) -> tuple[Server, str]:
        port = free_port()
        server = self._start(
            "bare",
            [sys.executable, "-m", "benchmarks.bare_app", "--port", str(port)],
            base_env(PYTHONPATH=str(Path(__file__).resolve().parent.parent)),
            f"http://127.0.0.1:{port}/health",
        )
        return server, f"http://127.0.0.1:{port}"

    def stop(self, server: Server) -> None:
        server.stop()
        with contextlib.suppress(ValueError):
            self._servers.remove(server)

    # --- real stores ---------------------------------------------------------------------
    def start_stores(self) -> None:
        """Throwaway Postgres and Redis from the Debian binaries (tests/real_services.py)."""
        from tests.real_services import ServerFactory

        factory = ServerFactory()
        self._factory = factory
        try:
            pg = factory.postgres()
            redis = factory.redis()
        except BaseException as exc:  # pytest's skip/fail outcomes are BaseExceptions
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise RuntimeError(f"no real Postgres/Redis: {exc}") from None
        self.database_url = pg.create_database("bench")
        self.redis_url = redis.url
        assert pg.proc is not None and redis.proc is not None
        self._store_pids = {"postgres": pg.proc.pid, "redis": redis.proc.pid}

    def cpu_meter(self) -> CpuMeter:
        """Every server running now, the stores, and this process (the load client)."""
        roots = {s.name: (s.pid, True) for s in self._servers if s.proc.poll() is None}
        roots.update({name: (pid, True) for name, pid in self._store_pids.items()})
        roots["client"] = (os.getpid(), False)
        return CpuMeter(roots)

    def close(self) -> None:
        for server in reversed(self._servers):
            with contextlib.suppress(Exception):
                server.stop()
        self._servers.clear()
        if self._factory is not None:
            self._factory.close()  # type: ignore[attr-defined]
            self._factory = None
