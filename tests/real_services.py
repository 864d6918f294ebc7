"""Throwaway Postgres and Redis servers for the tests, from the Debian binaries.

Each server listens on 127.0.0.1 on a free port, keeps its files in a private temp dir, and
can be stopped, killed and restarted on the same port and data (for the degraded-mode tests).
Postgres refuses to run as root, so as root it runs as the `postgres` system user.
Import the fixtures into a conftest: `from tests.real_services import postgres_server, ...`.
Under CI=true a missing binary fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI") == "true"

# `from tests.real_services import *` in a conftest brings in the fixtures.
__all__ = [
    "fresh_postgres",
    "fresh_redis",
    "postgres_dsn",
    "postgres_server",
    "redis_server",
    "redis_url",
    "server_factory",
]


def require(condition: bool, reason: str) -> None:
    """Skip (or, under CI, fail) when a prerequisite is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"missing prerequisite under CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_version_key)
    return Path(found[-1]).parent if found else None


def _version_key(path: str) -> int:
    part = path.split("/")[4]
    return int(part) if part.isdigit() else 0


def _as_postgres_user() -> list[str]:
    """The command prefix that drops root for Postgres (which will not run as root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        require(False, "running as root needs a `postgres` system user (.ci/provision-services.sh)")
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def _chown_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for root, dirs, files in os.walk(path):
            os.chown(root, user.pw_uid, user.pw_gid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid)


class PostgresServer:
    """One postmaster on 127.0.0.1:port with trust auth for the superuser `postgres`."""

    def __init__(self, bin_dir: Path, root: Path, template: Path | None = None) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.sockets = root / "sock"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        # Server settings for the next start; tests may change them, then restart().
        self.settings = {
            "listen_addresses": "127.0.0.1",
            # Safe against a killed server (the OS still has every write), which is all the
            # tests do; synchronous_commit stays on for the same reason.
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "300",
        }
        self.sockets.mkdir(parents=True, exist_ok=True)
        if template is not None:
            shutil.copytree(template, self.data)
        else:
            self._initdb()
        _chown_to_postgres(root)

    def _initdb(self) -> None:
        self.data.mkdir(parents=True)
        _chown_to_postgres(self.root)
        subprocess.run(
            [
                *_as_postgres_user(),
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    *_as_postgres_user(),
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.data),
                    "-k",
                    str(self.sockets),
                    "-p",
                    str(self.port),
                    *(f"-c{name}={value}" for name, value in self.settings.items()),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so kill() takes the backends
            )
        self._wait_ready(30)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited:\n{self.log.read_text()[-3000:]}")
            ready = subprocess.run(
                [
                    str(self.bin_dir / "pg_isready"),
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                ],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"postgres not ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT): sessions are terminated, data is kept."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend; the next start runs crash recovery."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its DSN."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                f'CREATE DATABASE "{name}"',
            ],
            check=True,
            capture_output=True,
        )
        return self.dsn(name)


class RedisServer:
    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root
        self.log = root / "redis.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.root),
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_port(self.port, 15)
        except TimeoutError:
            raise RuntimeError(f"redis did not start:\n{self.log.read_text()[-3000:]}") from None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(15)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


class ServerFactory:
    """Makes servers; Postgres data dirs are copied from one initdb (copying beats initdb)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ga-services-"))
        os.chmod(self.root, 0o755)  # the postgres user must traverse it when we are root
        self._template: Path | None = None
        self._servers: list[PostgresServer | RedisServer] = []

    def postgres(self) -> PostgresServer:
        bin_dir = postgres_bin_dir()
        require(
            bin_dir is not None and shutil.which("setpriv") is not None,
            "Postgres server binaries not found in /usr/lib/postgresql/*/bin "
            "(run .ci/provision-services.sh)",
        )
        assert bin_dir is not None
        root = Path(tempfile.mkdtemp(prefix="pg-", dir=self.root))
        os.chmod(root, 0o755)
        if self._template is None:
            first = PostgresServer(bin_dir, root)
            self._template = self.root / "pg-template"
            shutil.copytree(first.data, self._template)
            server = first
        else:
            server = PostgresServer(bin_dir, root, template=self._template)
        server.start()
        self._servers.append(server)
        return server

    def redis(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        require(
            os.access(binary, os.X_OK), "redis-server not found (run .ci/provision-services.sh)"
        )
        server = RedisServer(binary, Path(tempfile.mkdtemp(prefix="redis-", dir=self.root)))
        server.start()
        self._servers.append(server)
        return server

    def close(self) -> None:
        for server in reversed(self._servers):
            try:
                server.kill()
            except Exception as exc:  # keep cleaning up the others
                print(f"could not stop {server}: {exc}")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def server_factory() -> Iterator[ServerFactory]:
    factory = ServerFactory()
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def postgres_server(server_factory: ServerFactory) -> PostgresServer:
    """A Postgres shared by the whole run; tests that stop it must use `fresh_postgres`."""
    return server_factory.postgres()


@pytest.fixture(scope="session")
def redis_server(server_factory: ServerFactory) -> RedisServer:
    """A Redis shared by the whole run; tests that stop it must use `fresh_redis`."""
    return server_factory.redis()


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A database of its own on the shared server (not migrated: open_postgres does that)."""
    return postgres_server.create_database("shared")


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def fresh_postgres(server_factory: ServerFactory) -> Iterator[PostgresServer]:
    """A Postgres of the test's own, free to be stopped, killed and restarted."""
    server = server_factory.postgres()
    yield server
    server.kill()


@pytest.fixture
def fresh_redis(server_factory: ServerFactory) -> Iterator[RedisServer]:
    server = server_factory.redis()
    yield server
    server.kill()
