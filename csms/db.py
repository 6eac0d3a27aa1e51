"""The database engine and sessions: async SQLAlchemy, SQLite by default, PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from csms import inline_sqlite

BUSY_WAIT = 30.0  # seconds a write waits for another process's write lock


def make_engine(url: str, busy_wait: float = BUSY_WAIT) -> AsyncEngine:
    kwargs: dict[str, Any] = {}
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
            cur.close()
            # Let SQLAlchemy's "begin" below open the transaction itself.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # Take the write lock up front: a deferred transaction that reads and then writes
            # fails at once (no busy wait) when another process (the CLI) wrote meanwhile.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_reader(engine: AsyncEngine, size: int = 4) -> AsyncEngine | None:
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
    reader = create_async_engine(
        url, connect_args={"timeout": BUSY_WAIT}, pool_size=size, max_overflow=0, pool_timeout=120
    )

    @event.listens_for(reader.sync_engine, "connect")
    def _read_only(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA query_only=ON")
        cur.close()

    return reader


def make_database(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
