"""The charging profiles a charger should hold (csms.charging_profiles)."""

from __future__ import annotations

from typing import Any

from csms import charging_profiles
from csms.charging_profiles import HeldProfile
from csms.store.base import StoreBase


class ChargingProfiles(StoreBase):
    """The profiles sent to a charger and cleared from it."""

    async def profile_held(self, station_id: str, evse_id: int, profile: dict[str, Any]) -> None:
        async with self._tx(events=False) as session:
            await charging_profiles.held(session, station_id, evse_id, profile)

    async def profiles_cleared(self, station_id: str, **criteria: Any) -> None:
        async with self._tx(events=False) as session:
            await charging_profiles.cleared(session, station_id, **criteria)

    async def profiles(self, station_id: str) -> list[HeldProfile]:
        async with self.reads() as session:
            return await charging_profiles.of(session, station_id)
