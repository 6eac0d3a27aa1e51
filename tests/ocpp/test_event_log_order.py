"""The event log commits in id order on PostgreSQL, where a sequence hands out ids as rows are
inserted, not as they commit: a reader that follows `id > cursor` never skips an event whose
transaction committed after a later one (ADR 001). SQLite takes one writer at a time."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.schema import migrate
from csms.db import make_database, make_engine
from csms.events import EventType, record
from tests.helpers.databases import postgres_url


async def waiting_for_the_event_order(database: async_sessionmaker[AsyncSession]) -> None:
    """Returns once some transaction waits for the event log's advisory lock."""
    async with asyncio.timeout(10):
        while True:
            async with database() as session:
                waiting = (
                    await session.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE datname = current_database()"
                            " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
                        )
                    )
                ).scalar_one()
            if waiting:
                return
            await asyncio.sleep(0.01)


async def test_an_event_committed_after_a_later_one_is_not_skipped(tmp_path: Path) -> None:
    url = postgres_url(tmp_path)
    await migrate(url)
    engine = make_engine(url)
    database = make_database(engine)
    seen: list[int] = []

    async def read_on() -> None:
        """A cursor reader, as the projection reads the log."""
        async with database() as session:
            rows = await session.execute(
                text("SELECT id FROM events WHERE id > :cursor ORDER BY id"),
                {"cursor": max(seen, default=0)},
            )
            seen.extend(rows.scalars())

    async def second() -> int:
        async with database.begin() as session:
            event = await record(session, "CP-2", EventType.DATA_TRANSFER, vendor_id="second")
            await session.flush()
            assert event.id is not None
            return event.id

    try:
        async with database.begin() as session:  # the first transaction stays open a while
            first = await record(session, "CP-1", EventType.DATA_TRANSFER, vendor_id="first")
            await session.flush()
            later = asyncio.create_task(second())
            blocked = asyncio.create_task(waiting_for_the_event_order(database))
            await asyncio.wait([later, blocked], return_when=asyncio.FIRST_COMPLETED)
            blocked.cancel()
            await read_on()  # between the two commits, had the second not waited
        await read_on()
        second_id = await asyncio.wait_for(later, 10)
        await read_on()
        assert first.id is not None and first.id < second_id
        assert seen == [first.id, second_id]
    finally:
        await engine.dispose()
