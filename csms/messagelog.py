"""The audit log of every OCPP frame in and out, written in batches off the message path."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms import clock
from csms.batching import BatchedLog
from csms.models import MessageLogEntry
from csms.writer import Writer


class MessageLog(BatchedLog):
    """Frames are buffered and inserted in batches (see BatchedLog for what a crash loses)."""

    name = "message-log"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        retention_days: float,
        interval: float = 0.25,
        batch: int = 1000,
        writer: Writer | None = None,
    ) -> None:
        super().__init__(sessions, MessageLogEntry, retention_days, interval, batch, writer)

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
                "action": action,
                "message_id": message_id[:64] if message_id else None,
                "payload": payload,
            }
        )

    async def query(
        self, station_id: str, limit: int = 100, before_id: int | None = None
    ) -> list[MessageLogEntry]:
        return await self.recent(MessageLogEntry.station_id, station_id, limit, before_id)
