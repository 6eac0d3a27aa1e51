"""The write connection runs SQLite on the event loop's thread (csms.inline_sqlite): a database
locked by another process is waited for without stopping the loop, and given up on in time."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from cpo.schema import migrate
from csms import inline_sqlite
from csms.db import WRITE_CACHE_KIB, WalCheckpoints, make_database, make_engine, make_reader
from csms.models import Meta
from tests.helpers.sqlite_lock import write_lock_held


@pytest.fixture
async def database(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'csms.db'}"
    await migrate(url)
    return url


@pytest.fixture
async def holder(tmp_path: Path, database: str) -> AsyncIterator[asyncio.subprocess.Process]:
    async with write_lock_held(tmp_path / "csms.db") as process:
        yield process


async def _write(url: str, busy_wait: float) -> None:
    engine = make_engine(url, busy_wait=busy_wait)
    try:
        async with make_database(engine).begin() as session:
            session.add(Meta(key="platform", value="waited its turn"))
    finally:
        await engine.dispose()


async def test_a_write_waits_for_another_process_without_stopping_the_loop(
    database: str, holder: asyncio.subprocess.Process
) -> None:
    write = asyncio.create_task(_write(database, busy_wait=30))
    turned = asyncio.Event()
    asyncio.get_running_loop().call_soon(turned.set)
    # SQLite's own busy handler would hold the loop here until the lock went (never: the
    # holder waits for us); the connection's asynchronous wait lets the loop go on.
    await asyncio.wait_for(turned.wait(), 10)
    assert not write.done()

    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write(b"go\n")
    assert await asyncio.wait_for(holder.stdout.readline(), 10) == b"released\n"
    await asyncio.wait_for(write, 10)

    engine = make_engine(database)
    try:
        async with make_database(engine)() as session:
            assert (await session.get(Meta, "platform")).value == "waited its turn"
            assert (await session.get(Meta, "holder")).value == "was here"
    finally:
        await engine.dispose()


async def test_a_write_gives_up_when_the_lock_stays_taken(
    database: str, holder: asyncio.subprocess.Process
) -> None:
    with pytest.raises(OperationalError, match="database is locked"):
        await asyncio.wait_for(_write(database, busy_wait=0.3), 10)


async def _fill(engine: AsyncEngine, url: str, pages: int = 3000) -> int:
    """Writes about `pages` pages in small transactions; the WAL's size after, in pages."""
    for n in range(pages // 30):
        async with make_database(engine).begin() as session:
            session.add_all(Meta(key=f"k{n}-{i}", value="x" * 3500) for i in range(30))
    wal = url.removeprefix("sqlite+aiosqlite:///") + "-wal"
    return await asyncio.to_thread(lambda: os.path.getsize(wal) // 4096)


async def test_the_platforms_writes_leave_the_wal_to_the_checkpointer(database: str) -> None:
    engine = make_engine(database, checkpoints_apart=True)
    checkpoints = WalCheckpoints.for_url(database)
    assert checkpoints is not None
    try:
        # No commit copied the log back (by default one does past 1,000 pages).
        assert await _fill(engine, database) > 2500
        busy, frames, copied = await checkpoints.once()
        assert busy == 0 and frames > 2500 and copied == frames
    finally:
        await checkpoints.stop()
        await engine.dispose()


async def test_a_checkpointer_stopped_mid_pass_lets_the_pass_end_before_it_closes(
    database: str,
) -> None:
    """A cancelled pass goes on in its thread: stopping must not close the connection under it
    (that crashed the process) but wait its turn, then copy what is left and close."""
    engine = make_engine(database, checkpoints_apart=True)
    checkpoints = WalCheckpoints.for_url(database)
    assert checkpoints is not None
    try:
        assert await _fill(engine, database) > 2500  # 10 MB to copy back
        # A pass in its thread with nobody awaiting it, as a cancelled `once` leaves it.
        passing = asyncio.get_running_loop().run_in_executor(None, checkpoints._checkpoint)
        await checkpoints.stop()
        assert (await passing)[0] == 0  # it ran to its end on a connection still open
        busy, frames, copied = await checkpoints.once()  # a new connection: all was copied
        assert busy == 0 and copied == frames
    finally:
        await checkpoints.stop()
        await engine.dispose()


async def test_other_writers_checkpoint_as_sqlite_does(database: str) -> None:
    engine = make_engine(database)
    try:
        assert await _fill(engine, database) < 1500
    finally:
        await engine.dispose()


def test_only_an_sqlite_file_has_a_checkpointer() -> None:
    assert WalCheckpoints.for_url("sqlite+aiosqlite:///:memory:") is None
    assert WalCheckpoints.for_url("postgresql+asyncpg://u@localhost/cpo") is None
    assert WalCheckpoints.for_url("sqlite+aiosqlite:////tmp/cpo.db") is not None


async def test_the_write_connection_keeps_a_large_page_cache(database: str) -> None:
    """The group commit's inserts land in indexes spread over many pages (a sample's
    transaction, a frame's charger): SQLite's default 2 MB cache re-read them."""
    assert WRITE_CACHE_KIB > 2000
    engine = make_engine(database)
    try:
        async with engine.connect() as conn:
            size = (await conn.exec_driver_sql("PRAGMA cache_size")).scalar()
    finally:
        await engine.dispose()
    assert size == -WRITE_CACHE_KIB


async def test_inline_readers_read_on_the_loop_and_cannot_write(database: str) -> None:
    """The push worker's read connections (make_reader(inline=True)): statements run on the
    loop's thread, and the connection is for reading only."""
    engine = make_engine(database)
    reader = make_reader(engine, inline=True)
    assert reader is not None
    try:
        async with make_database(engine).begin() as session:
            session.add(Meta(key="seen", value="yes"))
        async with reader.connect() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection, inline_sqlite.Connection)
            value = await conn.exec_driver_sql("SELECT value FROM meta WHERE key = 'seen'")
            assert value.scalar() == "yes"
            with pytest.raises(OperationalError, match="readonly|read-only|query_only"):
                await conn.exec_driver_sql("DELETE FROM meta")
    finally:
        await reader.dispose()
        await engine.dispose()
