"""The database engine and sessions: async SQLAlchemy, SQLite by default, PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def make_engine(url: str) -> AsyncEngine:
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # SQLite takes one writer at a time; one pooled connection queues the platform's own
        # transactions in memory instead of in SQLite's sleeping busy handler.
        kwargs.update(connect_args={"timeout": 30}, pool_size=1, max_overflow=0, pool_timeout=120)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        # WAL lets readers (admin API) run while the handlers write; busy_timeout makes
        # concurrent writers wait instead of failing.
        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
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


def make_reader(url: str, size: int = 4) -> AsyncEngine | None:
    """Connections that only read, beside the writer's one, for SQLite files: under WAL they
    read the last committed state while a write transaction runs, so a read never queues behind
    the writes. None where the main engine pools several connections already (PostgreSQL) or
    each connection would see its own database (in memory)."""
    if not url.startswith("sqlite") or ":memory:" in url or url.rstrip("/").endswith(":"):
        return None
    engine = create_async_engine(
        url, connect_args={"timeout": 30}, pool_size=size, max_overflow=0, pool_timeout=120
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _read_only(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA query_only=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return engine


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
