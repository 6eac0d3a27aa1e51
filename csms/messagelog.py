"""The audit log of every OCPP frame in and out, written in batches off the message path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from csms import clock
from csms.models import MessageLogEntry

log = logging.getLogger(__name__)


class MessageLog:
    """Frames are buffered in memory and flushed every `interval` or every `batch` frames.

    A crash loses at most the last interval's frames of the audit log; the state and events
    that the frames caused are committed before any reply goes out, so nothing else is lost.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        retention_days: float,
        interval: float = 0.25,
        batch: int = 1000,
    ) -> None:
        self._sessions = sessions
        self._retention = timedelta(days=retention_days)
        self._interval = interval
        self._batch = batch
        self._buffer: list[dict[str, object]] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def append(
        self,
        station_id: str,
        direction: str,
        payload: str,
        message_type: int | None = None,
        action: str | None = None,
        message_id: str | None = None,
    ) -> None:
        self._buffer.append(
            {
                "created_at": clock.now(),
                "station_id": station_id,
                "direction": direction,
                "message_type": message_type,
                "action": action,
                "message_id": message_id[:64] if message_id else None,
                "payload": payload,
            }
        )
        if len(self._buffer) >= self._batch:
            self._wake.set()

    async def flush(self) -> None:
        async with self._lock:
            while self._buffer:
                rows, self._buffer = self._buffer[: self._batch], self._buffer[self._batch :]
                try:
                    async with self._sessions.begin() as session:
                        await session.execute(insert(MessageLogEntry), rows)
                except Exception:
                    log.exception("message log: %d frames not written", len(rows))
                    raise

    async def purge(self, now: datetime | None = None) -> int:
        cutoff = (now or clock.now()) - self._retention
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(MessageLogEntry).where(col(MessageLogEntry.created_at) < cutoff)
            )
            return result.rowcount or 0  # type: ignore[attr-defined]

    async def query(
        self, station_id: str, limit: int = 100, before_id: int | None = None
    ) -> list[MessageLogEntry]:
        await self.flush()
        stmt = select(MessageLogEntry).where(MessageLogEntry.station_id == station_id)
        if before_id is not None:
            stmt = stmt.where(col(MessageLogEntry.id) < before_id)
        stmt = stmt.order_by(col(MessageLogEntry.id).desc()).limit(limit)
        async with self._sessions() as session:
            return list((await session.execute(stmt)).scalars())

    async def _run(self) -> None:
        purge_every, last_purge = 3600.0, 0.0
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.flush()
                if loop.time() - last_purge > purge_every:
                    last_purge = loop.time()
                    await self.purge()
            except Exception:
                await asyncio.sleep(1.0)  # the database is away; keep the frames and try again

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="message-log")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
