"""Stations: logins, connects, boots, disconnects, signs of life, and their own fields and events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from csms import clock
from csms.events import EventType, record
from csms.models import Station
from csms.presence import (
    Boot,
    Connect,
    Disconnect,
    Login,
    Presence,
    abandon,
    abandon_connections,
    left_online,
    online_epochs,
)
from csms.store.base import StoreBase


@dataclass(slots=True)
class BootInfo:
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    reason: str | None = None


_UPDATE_SEEN = (
    update(Station.__table__)  # type: ignore[attr-defined]
    .where(Station.__table__.c.id == bindparam("station"))  # type: ignore[attr-defined]
    .values(last_seen=bindparam("at"))
)


class Stations(StoreBase):
    """The stations' presence and their own notifications."""

    async def login(self, station_id: str) -> Login | None:
        """What the endpoint checks before it accepts a charger's socket; None when unknown.
        Read together with the other chargers connecting meanwhile (csms.presence)."""
        login: Login | None = await self.writer.write(self._lookups, station_id)
        return login

    async def connected(
        self, station_id: str, ocpp_version: str, auto_register: bool, epoch: int
    ) -> Presence:
        """Committed (with its event) when this returns, in a group with other chargers'.
        `epoch`: the connection's (csms.registry); an older one's connect changes nothing."""
        presence: Presence = await self.writer.write(
            self._changes, Connect(station_id, ocpp_version, auto_register, clock.now(), epoch)
        )
        return presence

    async def disconnected(self, station_id: str, reason: str, epoch: int) -> None:
        """Marks the station offline if the connection of `epoch` still holds it."""
        self._seen.pop(station_id, None)
        await self.writer.write(self._changes, Disconnect(station_id, reason, clock.now(), epoch))

    async def left_online(self, connected_before: datetime) -> list[str]:
        """Stations recorded online by a connection made before `connected_before`."""
        async with self.database() as session:
            return await left_online(session, connected_before)

    async def abandoned(
        self, station_ids: list[str], connected_before: datetime, reason: str
    ) -> list[str]:
        """Marks offline (with their events) those of `station_ids` still online by a connection
        made before `connected_before`, a few hundred per transaction; the ids marked."""
        gone: list[str] = []
        for start in range(0, len(station_ids), 500):
            chunk = station_ids[start : start + 500]

            async def write(session: AsyncSession, chunk: list[str] = chunk) -> list[str]:
                return await abandon(session, chunk, connected_before, clock.now(), reason)

            gone += await self.writer.run(write)
        return gone

    async def online_epochs(self) -> dict[str, int | None]:
        """The stations recorded online, with the epoch of the connection recorded."""
        async with self.database() as session:
            return await online_epochs(session)

    async def abandoned_connections(self, epochs: dict[str, int | None], reason: str) -> list[str]:
        """`abandoned` for connections (station id → epoch) that no live node holds."""
        items = list(epochs.items())
        gone: list[str] = []
        for start in range(0, len(items), 500):
            chunk = dict(items[start : start + 500])

            async def write(
                session: AsyncSession, chunk: dict[str, int | None] = chunk
            ) -> list[str]:
                return await abandon_connections(session, chunk, clock.now(), reason)

            gone += await self.writer.run(write)
        return gone

    async def booted(self, station_id: str, info: BootInfo) -> None:
        """Committed (with its event) when this returns: only then may the charger be told."""
        await self.writer.write(self._changes, Boot(station_id, info, clock.now()))

    def seen(self, station_id: str) -> None:
        """Any message is a sign of life; written in batches, not per message."""
        self._seen[station_id] = clock.now()

    async def flush_seen(self) -> None:
        seen, self._seen = self._seen, {}
        if not seen:
            return
        async with self._tx(events=False) as session:
            conn = await session.connection()  # one statement for all, not one per station
            await conn.execute(
                _UPDATE_SEEN, [{"station": station_id, "at": at} for station_id, at in seen.items()]
            )

    async def station_fields(
        self, station_id: str, kind: EventType, fields: dict[str, Any], /, **data: Any
    ) -> None:
        """A notification that sets a few station fields (firmware status, ...) and is logged as an event."""
        data = self._within_budget(station_id, data)
        async with self._tx() as session:
            if fields:
                await session.execute(
                    update(Station).where(col(Station.id) == station_id).values(**fields)
                )
            await record(session, station_id, kind, **data)

    async def event(self, station_id: str, kind: EventType, /, **data: Any) -> None:
        data = self._within_budget(station_id, data)
        async with self._tx() as session:
            await record(session, station_id, kind, **data)
