"""Audit logs written in batches off the hot path: rows buffered in memory, inserted together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from csms import clock
from csms.many_rows import ManyRows
from csms.tasks import finish
from csms.writer import Writer

log = logging.getLogger(__name__)

PURGE_EVERY = 3600.0  # seconds between purges of old rows (the first at start)
PURGE_CHUNK = 5000  # rows deleted per transaction: a long DELETE would hold up every writer


class BatchedLog:
    """Rows are flushed every `interval` or every `batch` rows; rows older than the retention
    are purged at start and hourly, `PURGE_CHUNK` at a time (`purged` is set after each purge).

    A crash loses at most the last interval's rows of the log; whatever the logged traffic
    changed is committed by its own transaction, so nothing else is lost. Given a `writer`,
    the rows join the group commit of the writes they log instead of a transaction of their own.
    """

    name = "log"

    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        table: Any,
        retention_days: float,
        interval: float = 0.25,
        batch: int = 1000,
        writer: Writer | None = None,
    ) -> None:
        self._database = database
        self._writer = writer
        self._table = table
        self._insert = ManyRows(insert(table.__table__))
        self._retention = timedelta(days=retention_days)
        self._interval = interval
        self._batch = batch
        self._buffer: list[dict[str, object]] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failures = 0
        self.purged = asyncio.Event()

    def _append(self, row: dict[str, object]) -> None:
        self._buffer.append(row)
        if len(self._buffer) >= self._batch:
            self._wake.set()

    async def flush(self) -> None:
        async with self._lock:
            while self._buffer:
                rows, self._buffer = self._buffer[: self._batch], self._buffer[self._batch :]
                try:
                    if self._writer is not None:
                        await self._writer.write(self, rows)
                    else:
                        async with self._database.begin() as session:
                            await self.apply(session, [rows])
                except Exception:
                    # Keep the rows while the database is away, but not forever: a batch that
                    # fails three times in a row is dropped so one bad row cannot wedge the log.
                    self._failures += 1
                    if self._failures < 3:
                        self._buffer[:0] = rows
                    log.exception("%s: %d rows not written", self.name, len(rows))
                    raise
                self._failures = 0

    async def apply(
        self, session: AsyncSession, items: list[list[dict[str, object]]]
    ) -> list[None]:
        """The rows of several flushes in one INSERT (a `csms.writer.Batch`), straight to the
        driver where it can (csms.many_rows): the ORM's bulk insert costs several times more
        per row than Core's, and Core's several times more than the driver's, and these rows
        are every OCPP frame."""
        rows = [row for rows in items for row in rows]
        await self._insert.execute(await session.connection(), rows)
        return [None] * len(items)

    async def purge(self, now: datetime | None = None) -> int:
        """Deletes the rows older than the retention; how many.

        Rows are walked in id order, which is the order they were written in, `PURGE_CHUNK` at
        a time, until a chunk holds none that old: no index of their times to keep up at each
        insert (the message log's took 2 index entries per OCPP frame), and a row whose time
        is out of order (a clock set wrong) neither stops the walk nor is deleted before its
        time. Every node (and process) purges: on PostgreSQL each takes the rows no other
        purge has locked, so two purges at once delete different rows instead of waiting on,
        or deadlocking with, each other."""
        cutoff = (now or clock.now()) - self._retention
        table = self._table
        total, after = 0, 0
        while True:
            async with self._database.begin() as session:
                chunk = (
                    await session.execute(
                        select(col(table.id), col(table.created_at))
                        .where(col(table.id) > after)
                        .order_by(col(table.id))
                        .limit(PURGE_CHUNK)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
                old = [row_id for row_id, created_at in chunk if created_at < cutoff]
                if old:
                    await session.execute(delete(table).where(col(table.id).in_(old)))
            total += len(old)
            if not old or len(chunk) < PURGE_CHUNK:
                return total
            after = chunk[-1][0]

    async def recent(
        self, column: Any, value: object, limit: int = 100, before_id: int | None = None
    ) -> list[Any]:
        """Rows whose `column` equals `value`, newest first, below the `before_id` cursor."""
        return await self.newest([column == value], limit, before_id)

    async def newest(
        self, where: list[Any], limit: int = 100, before_id: int | None = None
    ) -> list[Any]:
        """Rows that meet every condition of `where`, newest first, below `before_id`."""
        await self.flush()
        stmt = select(self._table).where(*where)
        if before_id is not None:
            stmt = stmt.where(col(self._table.id) < before_id)
        stmt = stmt.order_by(col(self._table.id).desc()).limit(limit)
        async with self._database() as session:
            return list((await session.execute(stmt)).scalars())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_purge = loop.time() - PURGE_EVERY
        while not self._stopping:
            try:
                if loop.time() - last_purge >= PURGE_EVERY:
                    last_purge = loop.time()
                    if purged := await self.purge():
                        log.info("%s: %d rows past their retention deleted", self.name, purged)
                    self.purged.set()
                await self.flush()
            except Exception:
                await asyncio.sleep(1.0)  # the database is away; keep the rows and try again
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, grace: float = 5.0) -> None:
        """Lets a flush in progress finish, then writes what is left. A task cancelled inside
        a transaction makes SQLAlchemy throw its connection away mid-BEGIN, and SQLite may
        keep the write lock until that connection's thread gets round to closing it."""
        self._stopping = True
        self._wake.set()
        if self._task:
            await finish(self._task, grace)
        with contextlib.suppress(Exception):
            await self.flush()
