"""The chaos stack: a compose project (see conftest.py) and what the tests do to it."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from tests.container.compose_stack import Stack, http

TERMINAL = ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class Keys:
    """The API keys and secrets of one stack; every value is fresh and greppable."""

    main: str
    other: str
    limited: str
    gemini: str
    postgres_password: str

    @classmethod
    def fresh(cls) -> Keys:
        def mark(kind: str) -> str:
            return f"chaos{kind}{uuid.uuid4().hex}"

        return cls(
            main=mark("main"),
            other=mark("other"),
            limited=mark("limited"),
            gemini=mark("gemini"),
            postgres_password=mark("pgpw"),
        )

    @property
    def secrets(self) -> list[str]:
        return [self.main, self.other, self.limited, self.gemini, self.postgres_password]


def write_chaos_secrets(folder: Path, keys: Keys) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "gemini_api_key": keys.gemini,
        "api_keys": f"main:{keys.main},other:{keys.other},limited:{keys.limited}",
        "postgres_password": keys.postgres_password,
        "database_url": f"postgresql://agent:{keys.postgres_password}@postgres:5432/agent",
    }
    for name, content in files.items():
        path = folder / name
        path.write_text(content)
        path.chmod(0o644)


@dataclass
class ChaosStack(Stack):
    keys: Keys = field(default_factory=Keys.fresh)
    tool_log: Path = Path("/nonexistent")
    folder: Path = Path("/nonexistent")
    # Every problem body a test received, for the secret scan.
    bodies: list[str] = field(default_factory=list)

    @property
    def replicas(self) -> list[str]:
        return [f"http://127.0.0.1:{self.port + i}" for i in range(3)]

    @property
    def inproc_url(self) -> str:
        return f"http://127.0.0.1:{self.env['INPROC_PORT']}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.env['EMULATOR_PORT']}"

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        base: str | None = None,
        timeout: float = 60,
    ) -> tuple[int, Any]:
        headers = {"X-API-Key": key if key is not None else self.keys.main}
        status, out = http(method, (base or self.url) + path, body, headers, timeout)
        if status >= 400:
            self.bodies.append(json.dumps(out) if not isinstance(out, str) else out)
        return status, out

    def call_raw(
        self, method: str, path: str, data: bytes, *, base: str | None = None
    ) -> tuple[int, Any]:
        """A request with a body sent exactly as given (as application/json)."""
        with httpx2.Client(timeout=60, trust_env=False) as c:
            r = c.request(
                method,
                (base or self.url) + path,
                content=data,
                headers={"X-API-Key": self.keys.main, "Content-Type": "application/json"},
            )
        if r.status_code >= 400:
            self.bodies.append(r.text)
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, r.text

    def client(self, base: str | None = None, key: str | None = None) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            base_url=base or self.url,
            headers={"X-API-Key": key if key is not None else self.keys.main},
            timeout=httpx2.Timeout(30, connect=10),
            trust_env=False,
        )

    def emulator(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        status, out = http(method, self.emulator_url + path, body, timeout=10)
        assert status < 300, (status, out)
        return out

    def wait_all_ready(self, timeout: float = 120) -> None:
        """Every API replica answers /ready with 200."""
        deadline = time.monotonic() + timeout
        pending = list(self.replicas)
        while pending and time.monotonic() < deadline:
            for url in list(pending):
                try:
                    status, _ = http("GET", url + "/ready", timeout=3)
                except OSError:
                    status = 0
                if status == 200:
                    pending.remove(url)
            time.sleep(0.5)
        if pending:
            logs = self.compose("logs", "--no-color", "--tail", "40", check=False).stdout
            raise AssertionError(f"not ready: {pending}\n{logs[-6000:]}")

    def wait_task(self, task_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                status, last = self.call("GET", f"/api/v1/tasks/{task_id}", timeout=10)
            except OSError:
                status = 0
            if status == 200 and last["status"] in TERMINAL:
                return dict(last)
            time.sleep(0.5)
        raise AssertionError(f"task {task_id} not finished after {timeout}s: {last}")

    def containers(self, service: str, *, all_states: bool = False) -> list[str]:
        args = ["ps", "-q", *(["--all"] if all_states else []), service]
        return self.compose(*args).stdout.split()

    def inspect(self, container: str) -> dict[str, Any]:
        out: list[dict[str, Any]] = json.loads(self.docker.run("inspect", container).stdout)
        return out[0]

    def psql(self, query: str) -> str:
        """One query's output (unaligned, tuples only) from inside the postgres container."""
        result = self.compose(
            "exec",
            "-T",
            "-e",
            f"PGPASSWORD={self.keys.postgres_password}",
            "postgres",
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "agent",
            "-d",
            "agent",
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-c",
            query,
            timeout=60,
        )
        assert result.stdout.strip(), f"no output from {query!r}: {result.stderr}"
        return result.stdout.strip()

    def tool_runs(self) -> list[dict[str, Any]]:
        if not self.tool_log.exists():
            return []
        return [json.loads(line) for line in self.tool_log.read_text().splitlines() if line]


def task_prompt(tag: str, calls: int, seconds: float = 0.5) -> str:
    directives = "".join(
        f'[[call chaos_step {{"tag": "{tag}-{i}", "seconds": {seconds}}}]]' for i in range(calls)
    )
    return f"Run the steps. {directives}"


def history_problems(messages: list[dict[str, Any]]) -> list[str]:
    """What makes a stored conversation not resendable: wrong role order, a function call
    without its response (other than a trailing one cut off by a crash), a response without
    its call. Empty when the history is consistent."""
    found = []
    pending: list[str] = []
    for i, message in enumerate(messages):
        parts = message.get("parts") or []
        calls = [p["function_call"] for p in parts if "function_call" in p]
        responses = [p["function_response"] for p in parts if "function_response" in p]
        if message.get("role") not in ("user", "model"):
            found.append(f"#{i}: role {message.get('role')!r}")
        if not parts:
            found.append(f"#{i}: no parts")
        if pending:
            if message.get("role") != "user" or sorted(r.get("name", "") for r in responses) != (
                sorted(pending)
            ):
                found.append(f"#{i}: calls {pending} not answered by the next turn")
            pending = []
        elif responses:
            found.append(f"#{i}: responses without calls")
        if calls:
            if message.get("role") != "model":
                found.append(f"#{i}: calls in a {message.get('role')} turn")
            pending = [c.get("name", "") for c in calls]
    return found
