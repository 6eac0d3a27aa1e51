"""The passwords a charger is asked to take (csms.commands.security)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import col

from csms.events import EventType, record
from csms.models import Station
from csms.store.base import StoreBase


class Passwords(StoreBase):
    """A new password offered to a charger, then refused or taken."""

    async def password_offered(self, station_id: str, password_hash: str) -> None:
        """The charger is about to be asked to take a new password: from now on both count."""
        async with self._tx() as session:
            await session.execute(
                update(Station)
                .where(col(Station.id) == station_id)
                .values(pending_password_hash=password_hash)
            )

    @staticmethod
    def _offered(station_id: str, password_hash: str) -> Any:
        """The station, while `password_hash` is still the new password it was offered."""
        return update(Station).where(
            col(Station.id) == station_id, col(Station.pending_password_hash) == password_hash
        )

    async def password_refused(self, station_id: str, password_hash: str) -> None:
        """The charger did not take it: only the current password counts again (unless another
        rotation offered a newer one meanwhile)."""
        async with self._tx() as session:
            await session.execute(
                self._offered(station_id, password_hash).values(pending_password_hash=None)
            )

    async def password_taken(self, station_id: str, password_hash: str) -> None:
        """The charger logged in with the new password: it is the only one now."""
        async with self._tx() as session:
            await session.execute(
                self._offered(station_id, password_hash).values(
                    password_hash=password_hash, pending_password_hash=None
                )
            )
            await record(session, station_id, EventType.PASSWORD_CHANGED)
