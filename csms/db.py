"""The database engine and sessions: async SQLAlchemy, SQLite by default, PostgreSQL alike."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from csms import inline_sqlite

log = logging.getLogger(__name__)

BUSY_WAIT = 30.0  # seconds a write waits for another process's write lock
CHECKPOINT_EVERY = 0.5  # seconds between WalCheckpoints' passes
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes a restarting WAL is cut back to
# The write connection's page cache (SQLite's default: 2,000 KiB): the group commit inserts
# into index pages spread wide (a sample's transaction, a frame's charger). Not larger: a
# connection drops its whole cache when another process's write restarts the WAL, and with
# 64 MB the paced latency benchmark stalled 125-190 ms in 2 runs of 6 (bench/RESULTS.md).
WRITE_CACHE_KIB = 16384


# orjson writes a value json.dumps would not (a datetime, a dataclass) only if asked: these
# are left to json.dumps, which refuses them as before.
_AS_JSON_DUMPS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_text(value: Any) -> str:
    """A JSON column's text, by orjson where it can write the value (an event's data: 0.2 us
    against json.dumps' 2.9, about 2 % of the server under meter values; bench/RESULTS.md):
    the same JSON but for spaces, raw UTF-8 and NaN written as null (which PostgreSQL's json
    refuses as json.dumps writes it). What orjson refuses (an integer past 64 bits, a key that
    is no string, a datetime) goes to json.dumps."""
    try:
        return orjson.dumps(value, option=_AS_JSON_DUMPS).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value)


def make_engine(
    url: str, busy_wait: float = BUSY_WAIT, checkpoints_apart: bool = False
) -> AsyncEngine:
    """`checkpoints_apart`: this process's writes leave the WAL to `WalCheckpoints` (the
    platform's processes, where the server runs one); others (the CLI) checkpoint as SQLite
    does by default."""
    # Read back by json.loads: orjson reads an integer past 64 bits as a float.
    kwargs: dict[str, Any] = {"json_serializer": json_text}
    if url.startswith("sqlite"):
        # SQLite takes one writer at a time; one pooled connection queues the platform's own
        # transactions in memory instead of in SQLite's sleeping busy handler, and runs its
        # statements on the event loop's thread (csms.inline_sqlite, ADR 011).
        kwargs.update(
            async_creator=inline_sqlite.creator(make_url(url).database or ":memory:", busy_wait),
            pool_size=1,
            max_overflow=0,
            pool_timeout=120,
        )
    else:
        # PostgreSQL: enough connections for the deliverer's sends in flight to one party
        # (CPO_PUSH_CONCURRENCY, 16) beside the csms's writer, the projection and the API:
        # SQLAlchemy's default of 5 + 10 left a send, a round or a step waiting for a
        # connection behind the others. Per process; docs/deploy.md sizes max_connections.
        # All of them kept, none "overflow": an overflow connection is closed when handed
        # back, and the next one opened afresh prepares every statement again (a round trip
        # each; asyncpg's prepared statements live with their connection) and handshakes.
        kwargs.update(pool_size=25, max_overflow=0)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        # WAL lets readers (admin API) run while the handlers write; a writer of another
        # process (the CLI) is waited for by the connection itself, up to `busy_wait` seconds.
        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # The WAL goes back into the database file by WalCheckpoints' thread, not in the
            # commit that fills it (ADR 038); a WAL that grew is cut back when it restarts.
            cur.execute(f"PRAGMA wal_autocheckpoint={0 if checkpoints_apart else 1000}")
            cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            cur.execute(f"PRAGMA cache_size=-{WRITE_CACHE_KIB}")
            cur.close()
            # Let SQLAlchemy's "begin" below open the transaction itself.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # Take the write lock up front: a deferred transaction that reads and then writes
            # fails at once (no busy wait) when another process (the CLI) wrote meanwhile.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_reader(engine: AsyncEngine, size: int = 4, inline: bool = False) -> AsyncEngine | None:
    """Connections for work that only reads, so that it costs no more than its statements.

    SQLite files: connections of their own beside the writer's one; under WAL they read the
    last committed state while a write transaction runs, so a read never queues behind the
    writes. PostgreSQL: the engine's own pool in autocommit, each statement its own
    transaction: no BEGIN and ROLLBACK round trips around a read, and under READ COMMITTED a
    statement in a transaction sees no more consistent a state than that (ADR 021). None for
    a database in memory, where each connection would see its own."""
    url = engine.url
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    if url.database in (None, "", ":memory:"):
        return None
    kwargs: dict[str, Any] = {"connect_args": {"timeout": BUSY_WAIT}}
    if inline:
        kwargs = {"async_creator": inline_sqlite.creator(url.database, BUSY_WAIT)}
    reader = create_async_engine(url, pool_size=size, max_overflow=0, pool_timeout=120, **kwargs)

    @event.listens_for(reader.sync_engine, "connect")
    def _read_only(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA query_only=ON")
        cur.close()

    return reader


def make_database(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class WalCheckpoints:
    """Copies SQLite's write-ahead log back into the database file on a thread of its own,
    every CHECKPOINT_EVERY seconds (ADR 038).

    By default SQLite checkpoints in the commit that fills the log past 1,000 pages: that
    commit, a charger's group commit or a projection step, holds the write lock through the
    copy and its fsync, and every other writer of both processes waits. A PASSIVE checkpoint
    takes no write lock: it copies what no reader still needs while the writers go on, and
    the log starts again from its beginning at the next write once all of it is copied.
    For an SQLite file only; None elsewhere (`for_url`)."""

    def __init__(self, path: str, every: float = CHECKPOINT_EVERY) -> None:
        self.path = path
        self.every = every
        self._connection: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        # One pass at a time, and the close after it: a cancelled `once` leaves its thread
        # running, and closing the connection under a running checkpoint crashed the process.
        self._turn = threading.Lock()

    @classmethod
    def for_url(cls, url: str) -> WalCheckpoints | None:
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
            return None
        return cls(parsed.database)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="wal-checkpoints")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.once()  # what the last writes left, before the file is closed
        await asyncio.to_thread(self._close)

    async def once(self) -> tuple[int, int, int]:
        """One pass: SQLite's (busy, frames in the log, frames copied back)."""
        return await asyncio.to_thread(self._checkpoint)

    def _checkpoint(self) -> tuple[int, int, int]:
        with self._turn:
            if self._connection is None:
                self._connection = sqlite3.connect(
                    self.path, timeout=0, isolation_level=None, check_same_thread=False
                )
            row = self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return int(row[0]), int(row[1]), int(row[2])

    def _close(self) -> None:
        with self._turn:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.once()
            except sqlite3.Error as e:  # the file is away (a disk full, a locked file...)
                log.warning("WAL checkpoint failed: %s", e)
