"""Charging preferences: what a driver asks of a running session, answered from what we can do.

FAST charges at full power (any limit cleared). REGULAR spreads the energy the driver needs
over the time to departure: the session's power is capped at what gets there, if the
connector can deliver it. CHEAP and GREEN need price or energy-mix forecasts this platform does
not have: PROFILE_TYPE_NOT_SUPPORTED, honestly. Every ACCEPTED is the charger's own answer to
the charging profile it was sent; a charger that refuses, cannot or does not answer in time
makes it NOT_POSSIBLE.
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select

from cpo.locations.tables import LocationEvse
from cpo.ocpi.models import DateTime, Wire
from cpo.ocpi.status import OcpiError, Status
from cpo.sessions.from_transactions import session_by_id
from cpo.sessions.v221 import SessionStatus
from cpo.tables import Party
from csms import clock
from csms.commands import ClearChargingLimit, Command, Commands, SetChargingLimit
from csms.models import Transaction, TransactionStatus

log = logging.getLogger("cpo.sessions.preferences")

CAPABLE = "CHARGING_PREFERENCES_CAPABLE"
# Below this a charger cannot charge at all (6 A on one phase).
LOWEST_W = 1_400.0


class ProfileType(enum.StrEnum):
    CHEAP = "CHEAP"
    FAST = "FAST"
    GREEN = "GREEN"
    REGULAR = "REGULAR"


class Answer(enum.StrEnum):
    ACCEPTED = "ACCEPTED"
    DEPARTURE_REQUIRED = "DEPARTURE_REQUIRED"
    ENERGY_NEED_REQUIRED = "ENERGY_NEED_REQUIRED"
    NOT_POSSIBLE = "NOT_POSSIBLE"
    PROFILE_TYPE_NOT_SUPPORTED = "PROFILE_TYPE_NOT_SUPPORTED"


class ChargingPreferences(Wire):
    profile_type: ProfileType
    departure_time: DateTime | None = None
    energy_need: Annotated[float, Field(ge=0)] | None = None
    discharge_allowed: bool | None = None


def unknown_session(session_id: str) -> OcpiError:
    return OcpiError(Status.INVALID_PARAMETERS, f"no session {session_id!r} of yours", http=404)


class Preferences:
    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        commands: Commands | None,
        budget: float,
    ) -> None:
        self.database = database
        self.commands = commands
        self.budget = budget

    async def apply(self, party: Party, session_id: str, wanted: ChargingPreferences) -> Answer:
        async with self.database.begin() as session:
            row = await session_by_id(session, session_id)
            if row is not None and row.owner_id != party.id:
                row = None  # another party's session does not exist for the caller
            if row is None or row.location is None:
                raise unknown_session(session_id)
            evse = (
                (
                    await session.execute(
                        select(LocationEvse).where(LocationEvse.uid == row.location["evse_uid"])
                    )
                )
                .scalars()
                .first()
            )
            if evse is None or CAPABLE not in (evse.data.get("capabilities") or []):
                raise OcpiError(
                    Status.INVALID_PARAMETERS,
                    f"EVSE {row.location['evse_uid']} does not take charging preferences",
                    http=404,
                )
            row.preferences = wanted.model_dump(mode="json", exclude_none=True)
            tx = await session.get(Transaction, row.transaction_id)
            assert tx is not None
            status, kwh = row.status, float(row.data.get("kwh") or 0)
            max_w = _max_power_w(evse.data, row.location.get("connector_id"))
        if status != SessionStatus.ACTIVE or tx.status != TransactionStatus.ACTIVE:
            return Answer.NOT_POSSIBLE
        return await self._decide(tx, wanted, kwh, max_w)

    async def _decide(
        self, tx: Transaction, wanted: ChargingPreferences, kwh: float, max_w: float | None
    ) -> Answer:
        assert tx.id is not None
        evse_id = tx.evse_id or 1
        if wanted.profile_type in (ProfileType.CHEAP, ProfileType.GREEN):
            return Answer.PROFILE_TYPE_NOT_SUPPORTED
        if wanted.profile_type == ProfileType.FAST:
            return await self._run(tx, ClearChargingLimit(evse_id=evse_id), ("Accepted", "Unknown"))
        if wanted.departure_time is None:
            return Answer.DEPARTURE_REQUIRED
        if wanted.energy_need is None:
            return Answer.ENERGY_NEED_REQUIRED
        hours = (wanted.departure_time - clock.now()).total_seconds() / 3600
        remaining_kwh = wanted.energy_need - kwh
        if remaining_kwh <= 0:
            # Already there: charging on at full power harms nobody.
            return await self._run(tx, ClearChargingLimit(evse_id=evse_id), ("Accepted", "Unknown"))
        if hours <= 0:
            return Answer.NOT_POSSIBLE
        needed_w = remaining_kwh * 1000 / hours
        if max_w is not None and needed_w > max_w:
            return Answer.NOT_POSSIBLE  # not even full power gets there by departure
        limit = _until(tx, max(needed_w, LOWEST_W), wanted.departure_time)
        return await self._run(tx, limit, ("Accepted",))

    async def _run(self, tx: Transaction, command: Command, good: tuple[str, ...]) -> Answer:
        if self.commands is None:
            return Answer.NOT_POSSIBLE
        result = await self.commands.run(tx.station_id, command, self.budget)
        if result.status in good:
            return Answer.ACCEPTED
        log.info(
            "charging preferences on %s: %s %s %s",
            tx.station_id, command.name, result.outcome, result.status or result.error_code,
        )  # fmt: skip
        return Answer.NOT_POSSIBLE


def _until(tx: Transaction, limit_w: float, departure: datetime) -> SetChargingLimit:
    assert tx.id is not None
    return SetChargingLimit(
        evse_id=tx.evse_id or 1,
        transaction_id=tx.id,
        limit_w=round(limit_w, 1),
        until=departure,
    )


def _max_power_w(evse: dict[str, Any], connector_id: str | None) -> float | None:
    for connector in evse.get("connectors") or []:
        if connector.get("id") == connector_id and connector.get("max_electric_power"):
            return float(connector["max_electric_power"])
    return None
