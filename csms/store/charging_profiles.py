"""The charging profiles a charger should hold (csms.charging_profiles)."""

from __future__ import annotations

from typing import Any

from csms import charging_profiles
from csms.charging_profiles import HeldProfile
from csms.events import EventType, record
from csms.store.base import StoreBase


class ChargingProfiles(StoreBase):
    """The profiles sent to a charger and cleared from it. Each change is an event
    (ChargingProfileChanged) in the same transaction: whoever follows what a charger will do on
    an EVSE (the eMSPs that set a profile on a session there) learns of it, whichever part of
    the platform sent the profile."""

    async def profile_held(self, station_id: str, evse_id: int, profile: dict[str, Any]) -> None:
        async with self._tx() as session:
            await charging_profiles.held(session, station_id, evse_id, profile)
            await record(
                session,
                station_id,
                EventType.CHARGING_PROFILE_CHANGED,
                change="set",
                evse_id=evse_id,
                profile_id=profile["id"],
                purpose=profile["purpose"],
            )

    async def profiles_cleared(self, station_id: str, **criteria: Any) -> None:
        """`criteria` as csms.charging_profiles.cleared takes them; an evse_id of None in the
        event means any EVSE of the charger may have changed."""
        async with self._tx() as session:
            await charging_profiles.cleared(session, station_id, **criteria)
            await record(
                session,
                station_id,
                EventType.CHARGING_PROFILE_CHANGED,
                change="cleared",
                evse_id=criteria.get("evse_id"),
                profile_id=criteria.get("id"),
                purpose=criteria.get("purpose"),
            )

    async def profiles(self, station_id: str) -> list[HeldProfile]:
        async with self.reads() as session:
            return await charging_profiles.of(session, station_id)
