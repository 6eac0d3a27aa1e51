"""The chargers the operator has added: their identity, password and quirks, and their
transactions, shared by the admin API, the CLI and the console."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.operator_input import Conflict, NotFound
from csms import provisioning
from csms.models import Connector, Station, Transaction, Upload
from csms.passwords import hash_password
from csms.service import IDENTITY_MAX

SECURITY_PROFILE = (
    "The lowest OCPP security profile it may connect with: 1 a password, 2 a password over TLS,"
    " 3 a client certificate"
)


class StationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=IDENTITY_MAX, pattern=r"^[^:/\x00-\x1f]+$")
    password: str | None = Field(
        default=None,
        min_length=16,
        max_length=40,
        description="HTTP Basic password (security profiles 1 and 2): 16 to 40 characters, as OCPP asks",
    )
    security_profile: Literal[1, 2, 3] = Field(default=1, description=SECURITY_PROFILE)


class StationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(default=None, min_length=16, max_length=40)
    security_profile: Literal[1, 2, 3] | None = Field(
        default=None, description=SECURITY_PROFILE + "; the operator's way to lower it"
    )
    energy_unit_override: Literal["kWh", "Wh"] | None = Field(
        default=None, description="For chargers that label kWh readings as Wh"
    )


def station_view(station: Station, connectors: list[Connector] | None = None) -> dict[str, Any]:
    data = station.model_dump(exclude={"password_hash"}, mode="json")
    data["password_set"] = station.password_hash is not None
    if connectors is not None:
        data["connectors"] = [c.model_dump(exclude={"station_id"}, mode="json") for c in connectors]
    return data


async def _hashed(password: str | None) -> str | None:
    """argon2 takes a tenth of a second of a core: off the event loop, which chargers share."""
    return await asyncio.to_thread(hash_password, password) if password else None


class Stations:
    def __init__(self, database: async_sessionmaker[AsyncSession]) -> None:
        self.database = database

    async def add(self, data: StationIn) -> Station:
        station = Station(
            id=data.id,
            password_hash=await _hashed(data.password),
            security_profile=data.security_profile,
        )
        try:
            async with self.database.begin() as session:
                session.add(station)
        except IntegrityError as e:
            raise Conflict(f"station {data.id} exists already") from e
        return station

    async def update(self, station_id: str, data: StationPatch) -> Station:
        async with self.database.begin() as session:
            station = await session.get(Station, station_id, with_for_update=True)
            if station is None:
                raise NotFound(f"no station {station_id}")
            if "password" in data.model_fields_set:
                station.password_hash = await _hashed(data.password)
            if "energy_unit_override" in data.model_fields_set:
                station.energy_unit_override = data.energy_unit_override
            if data.security_profile is not None:
                station.security_profile = data.security_profile
            return station

    async def all(self) -> list[Station]:
        async with self.database() as session:
            return list((await session.execute(select(Station).order_by(Station.id))).scalars())

    async def get(self, station_id: str) -> tuple[Station, list[Connector]]:
        async with self.database() as session:
            station = await session.get(Station, station_id)
            if station is None:
                raise NotFound(f"no station {station_id}")
            rows = await session.execute(
                select(Connector)
                .where(Connector.station_id == station_id)
                .order_by(col(Connector.evse_id), col(Connector.connector_id))
            )
            return station, list(rows.scalars())

    async def delete(self, station_id: str) -> None:
        async with self.database.begin() as session:
            station = await session.get(Station, station_id, with_for_update=True)
            if station is None:
                raise NotFound(f"no station {station_id}")
            await session.execute(delete(Connector).where(col(Connector.station_id) == station_id))
            if (
                await session.execute(
                    select(Transaction.id).where(Transaction.station_id == station_id).limit(1)
                )
            ).first():
                raise Conflict(f"station {station_id} has transactions; they are kept for billing")
            # The files it uploaded (diagnostics, logs) go with it.
            await session.execute(delete(Upload).where(col(Upload.station_id) == station_id))
            await provisioning.forget(session, station_id)
            await session.delete(station)

    async def transactions(
        self, station_id: str | None = None, limit: int = 100
    ) -> list[Transaction]:
        stmt = select(Transaction).order_by(col(Transaction.id).desc()).limit(limit)
        if station_id:
            stmt = stmt.where(Transaction.station_id == station_id)
        async with self.database() as session:
            return list((await session.execute(stmt)).scalars())
