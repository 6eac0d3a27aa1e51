"""SQLite statements run on the event loop's own thread, for SQLAlchemy's aiosqlite dialect.

aiosqlite runs each call (cursor, execute, fetch, close) on a thread of its own and hands the
result back through the event loop: four thread hops and four loop turns per statement, each
waiting its turn behind every charger's messages, while the one write connection stays held.
The platform's statements take tens of microseconds on a local file, less than one hop costs,
so the write connection runs them here instead: a transaction runs from BEGIN to COMMIT
without the loop turning, and a statement costs what the statement costs (ADR 011).

What this gives up is the loop's freedom while SQLite works, so the connection never sleeps
in SQLite: its busy timeout is zero, and a statement that finds the database locked (another
process writes: the CLI) is retried after an asynchronous pause, up to `patience` seconds,
as SQLite's own busy handler would have retried it. The server's readers keep aiosqlite's
threads, for the long reads (the push worker's read inline too: csms.db.make_reader). The WAL
is checkpointed apart, by a thread of the server's (csms.db.WalCheckpoints, ADR 038).

The connection offers what SQLAlchemy's aiosqlite adapter uses of an aiosqlite connection
(`create_async_engine(..., async_creator=...)`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
FIRST_PAUSE = 0.0005  # seconds; doubled after each busy try, up to LONGEST_PAUSE
# The other writer is mostly the push worker (ADR 012), whose transactions last a few ms: a
# long pause would leave the database idle while a charger's write waits, and the process
# that polls less often loses the lock to the one that commits again at once (with pauses up
# to 4 ms the push worker waited up to 76 ms, p99, for its turn under status -> eMSP at
# 500/s, whose p99 was 100-210 ms; with 1 ms, 58 ms: bench/RESULTS.md). A try costs a few
# microseconds.
LONGEST_PAUSE = 0.001


async def patiently(patience: float, attempt: Callable[[], T]) -> T:
    """`attempt()`, tried again after a pause each time SQLite says another connection holds
    the lock, for up to `patience` seconds; then the busy error stands. The first try costs
    nothing more than the call (it is every statement's path)."""
    try:
        return attempt()
    except sqlite3.OperationalError as e:
        if e.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
            raise
    deadline = time.monotonic() + patience
    pause = FIRST_PAUSE
    while True:
        await asyncio.sleep(pause)
        pause = min(2 * pause, LONGEST_PAUSE)
        try:
            return attempt()
        except sqlite3.OperationalError as e:
            if e.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise


class Cursor:
    __slots__ = ("_cursor", "_patience")

    def __init__(self, cursor: sqlite3.Cursor, patience: float) -> None:
        self._cursor = cursor
        self._patience = patience

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Cursor:
        await patiently(self._patience, lambda: self._cursor.execute(sql, parameters or ()))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Cursor:
        # A retry needs them again: a one-shot iterator is kept (SQLAlchemy passes a list).
        rows = parameters if isinstance(parameters, list | tuple) else list(parameters)
        await patiently(self._patience, lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _Immediate:
    """Stands in for aiosqlite's queue to its thread: SQLAlchemy sets the isolation level by
    putting a call there; here the call runs at once."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as e:  # handed to the caller awaiting the future
            future.set_exception(e)


class Connection:
    def __init__(self, connection: sqlite3.Connection, patience: float) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection  # SQLAlchemy checks it
        self._tx = _Immediate()
        self._patience = patience

    def cursor(self) -> Cursor:
        """SQLAlchemy enters it (`async with`-style) before use, as with aiosqlite's."""
        return Cursor(self._conn.cursor(), self._patience)

    async def commit(self) -> None:
        await patiently(self._patience, self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Closes at once (SQLAlchemy's terminate); closing twice does nothing."""
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level


def creator(path: str, patience: float) -> Callable[[], Awaitable[Connection]]:
    """The `async_creator` of an engine whose connections run their statements inline; a
    locked database is waited for up to `patience` seconds, without blocking the loop."""

    async def connect() -> Connection:
        # timeout=0: SQLite's busy handler would sleep on the loop's thread; `patiently` waits.
        connection = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
        return Connection(connection, patience)

    return connect
