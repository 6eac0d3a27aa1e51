"""The audit log of every OCPP frame in and out, written in batches off the message path,
bounded per frame and per charger and minute."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from csms import clock, metrics
from csms.batching import BatchedLog
from csms.budget import MinuteBudget, cut_text, utf8_size
from csms.models import MessageLogEntry
from csms.writer import Writer

MAX_FRAME = 64 * 1024  # bytes of a frame kept
BYTES_PER_MINUTE = 1024 * 1024  # bytes of frames kept per charger and minute
_ID_MAX = 64  # the width of the action and message id columns


class MessageLog(BatchedLog):
    """Frames are buffered and inserted in batches (see BatchedLog for what a crash loses).

    A charger chooses how large and how many its frames are, up to CPO_WS_MAX_SIZE and the
    flood limit: a gigabyte an hour if everything were kept. So each frame is kept up to
    `max_frame` bytes (cut with a note of its size), and each charger's frames up to
    `bytes_per_minute`; past that its frames are logged by their type, action, id and size
    only, until the next minute.
    """

    name = "message-log"

    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        retention_days: float,
        interval: float = 0.25,
        batch: int = 1000,
        writer: Writer | None = None,
        max_frame: int = MAX_FRAME,
        bytes_per_minute: int = BYTES_PER_MINUTE,
    ) -> None:
        super().__init__(database, MessageLogEntry, retention_days, interval, batch, writer)
        self.max_frame = max_frame
        self.budget = MinuteBudget(bytes_per_minute)

    def append(
        self,
        station_id: str,
        direction: str,
        payload: str,
        message_type: int | None = None,
        action: str | None = None,
        message_id: str | None = None,
    ) -> None:
        self._append(
            {
                "created_at": clock.now(),
                "station_id": station_id,
                "direction": direction,
                "message_type": message_type,
                "action": action[:_ID_MAX] if action else None,
                "message_id": message_id[:_ID_MAX] if message_id else None,
                "payload": self._kept(station_id, payload),
            }
        )

    def _kept(self, station_id: str, payload: str) -> str:
        """What is stored of a frame: all of it, its first `max_frame` bytes, or only its size."""
        size = utf8_size(payload)
        if size > self.max_frame:
            payload = cut_text(payload, self.max_frame)
            metrics.stored_cut("message_log", "size").inc()
        if not self.budget.spend(station_id, utf8_size(payload)):
            metrics.stored_cut("message_log", "budget").inc()
            return (
                f"[not logged by the CSMS: a frame of {size} bytes, past this charger's"
                f" {self.budget.per_minute} bytes a minute]"
            )
        return payload

    async def query(
        self, station_id: str, limit: int = 100, before_id: int | None = None
    ) -> list[MessageLogEntry]:
        return await self.recent(MessageLogEntry.station_id, station_id, limit, before_id)

    async def search(
        self,
        station_id: str | None = None,
        direction: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[MessageLogEntry]:
        """Frames of every charger (or one), in and out (or one way), newest first."""
        where = []
        if station_id is not None:
            where.append(col(MessageLogEntry.station_id) == station_id)
        if direction is not None:
            where.append(col(MessageLogEntry.direction) == direction)
        return await self.newest(where, limit, before_id)
