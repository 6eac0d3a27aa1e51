"""The authorization requests a charger makes, recorded as events."""

from __future__ import annotations

from csms.authorization import AuthorizationResult
from csms.events import EventType, record
from csms.store.base import StoreBase


class Authorizations(StoreBase):
    """Each Authorize and what it was answered."""

    async def authorization(
        self, station_id: str, id_token: str, token_type: str | None, result: AuthorizationResult
    ) -> None:
        async with self._tx() as session:
            await record(
                session,
                station_id,
                EventType.AUTHORIZATION_REQUESTED,
                id_token=id_token,
                token_type=token_type,
                status=result.status.value,
                reference=result.reference,
            )
