"""The database a test runs on, and the servers behind it.

`make test` gives each test a SQLite file of its own; `make test-pg` (CPO_TEST_DATABASE=postgresql)
gives each test a fresh database on one PostgreSQL server that this test run starts from
Debian's binaries in a temporary directory on a free port. Cluster tests start Redis the same
way. Nothing here talks to a server that the test run did not start.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DATABASE = os.environ.get("CPO_TEST_DATABASE", "sqlite")
ON_POSTGRES = DATABASE == "postgresql"
INSTALL_HINT = "apt-get install -y postgresql redis-server haproxy (what .ci/run does)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {seconds} s")


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its programs as the `postgres` user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as e:
        raise RuntimeError(f"running as root needs the postgres user: {INSTALL_HINT}") from e
    return ["runuser", "-u", "postgres", "--"]


def postgres_bin() -> Path:
    """The newest PostgreSQL server binaries installed (Debian keeps them by major version)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError(f"no PostgreSQL server binaries: {INSTALL_HINT}")
    return Path(found[-1]).parent


class PostgresServer:
    """A PostgreSQL server of its own: initdb in a temporary directory, on a free port. For
    tests, durability is off (their data need not survive a power cut); `durable` keeps fsync
    and commits without waiting for the disk, as SQLite's WAL with synchronous=NORMAL does
    (what the benchmarks compare with)."""

    def __init__(self, durable: bool = False, preload: str = "") -> None:
        self.durable = durable
        self.preload = preload  # shared_preload_libraries (pg_stat_statements for a benchmark)
        self.bin = postgres_bin()
        self.directory = Path(tempfile.mkdtemp(prefix="cpo-pg-"))
        self.port = free_port()
        self._names = itertools.count(1)
        self._run = _as_postgres_user()
        if self._run:
            shutil.chown(self.directory, "postgres", "postgres")

    def start(self) -> PostgresServer:
        data = self.directory / "data"
        self._call(
            str(self.bin / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.directory}",
                "-c synchronous_commit=off",
                "-c max_connections=400",
                *([] if self.durable else ["-c fsync=off", "-c full_page_writes=off"]),
                *([f"-c shared_preload_libraries={self.preload}"] if self.preload else []),
            ]
        )
        self._call(
            str(self.bin / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.directory / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )
        _wait_for_port(self.port, "PostgreSQL")
        return self

    def _call(self, *args: str) -> str:
        done = subprocess.run(
            [*self._run, *args], capture_output=True, text=True, timeout=120, cwd=self.directory
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def sql(self, statement: str, database: str = "postgres") -> str:
        return self._call(
            str(self.bin / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atc",
            statement,
        )

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name

    def drop_database(self, name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._call(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.directory / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            )
        shutil.rmtree(self.directory, ignore_errors=True)


class RedisServer:
    """redis-server on a free port, nothing saved to disk."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="cpo-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise RuntimeError(f"no redis-server: {INSTALL_HINT}")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for_port(self.port, "redis-server")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            if self.process.poll() is None:
                self.process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


_postgres: PostgresServer | None = None
_created: dict[tuple[Path, str], str] = {}


def postgres() -> PostgresServer:
    """This test run's PostgreSQL server, started on first use and stopped when the run ends."""
    global _postgres
    if _postgres is None:
        server = PostgresServer()
        atexit.register(server.stop)
        _postgres = server.start()
    return _postgres


def postgres_url(directory: Path, name: str = "cpo.db") -> str:
    """A database on this run's PostgreSQL server, empty when first asked for, the same one
    each time the test asks with the same directory and name; dropped after the test."""
    server = postgres()
    key = (directory, name)
    if key not in _created:
        _created[key] = server.create_database()
    return server.url(_created[key])


def database_url(directory: Path, name: str = "cpo.db") -> str:
    """The database a test's platform (or CLI) uses: a SQLite file in the test's directory, or
    under `make test-pg` a database of the test's own on PostgreSQL."""
    if ON_POSTGRES:
        return postgres_url(directory, name)
    return f"sqlite+aiosqlite:///{directory / name}"


def drop_created() -> None:
    """Drops the databases the test just finished made (keeps the server's disk small)."""
    while _created:
        _key, database = _created.popitem()
        assert _postgres is not None
        with contextlib.suppress(RuntimeError):
            _postgres.drop_database(database)


async def fetch(url: str, statement: str, **params: object) -> list[tuple[object, ...]]:
    """Runs one SQL statement on a database by its URL, in a transaction of its own; the rows."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        await engine.dispose()
