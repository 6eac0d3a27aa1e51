"""What an operator does to the platform's data, shared by the admin API and the CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from csms.authorization import normalise_uid
from csms.models import Connector, LocalToken, Station, Transaction
from csms.passwords import hash_password
from csms.service import IDENTITY_MAX


class Conflict(Exception):
    """The thing exists already."""


class NotFound(Exception):
    """No such thing."""


class StationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=IDENTITY_MAX, pattern=r"^[^:/\x00-\x1f]+$")
    password: str | None = Field(
        default=None,
        min_length=16,
        max_length=40,
        description="HTTP Basic password (security profiles 1 and 2): 16 to 40 characters, as OCPP asks",
    )


class StationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(default=None, min_length=16, max_length=40)
    energy_unit_override: Literal["kWh", "Wh"] | None = Field(
        default=None, description="For chargers that label kWh readings as Wh"
    )


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uid: str = Field(min_length=1, max_length=36)
    type: str = Field(default="RFID", max_length=16)
    status: Literal["Accepted", "Blocked", "Expired"] = "Accepted"
    expires_at: datetime | None = None


def station_view(station: Station, connectors: list[Connector] | None = None) -> dict[str, Any]:
    data = station.model_dump(exclude={"password_hash"}, mode="json")
    data["password_set"] = station.password_hash is not None
    if connectors is not None:
        data["connectors"] = [c.model_dump(exclude={"station_id"}, mode="json") for c in connectors]
    return data


class Operations:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def add_station(self, data: StationIn) -> Station:
        station = Station(
            id=data.id, password_hash=hash_password(data.password) if data.password else None
        )
        try:
            async with self.sessions.begin() as session:
                session.add(station)
        except IntegrityError as e:
            raise Conflict(f"station {data.id} exists already") from e
        return station

    async def update_station(self, station_id: str, data: StationPatch) -> Station:
        async with self.sessions.begin() as session:
            station = await session.get(Station, station_id, with_for_update=True)
            if station is None:
                raise NotFound(f"no station {station_id}")
            if "password" in data.model_fields_set:
                station.password_hash = hash_password(data.password) if data.password else None
            if "energy_unit_override" in data.model_fields_set:
                station.energy_unit_override = data.energy_unit_override
            return station

    async def stations(self) -> list[Station]:
        async with self.sessions() as session:
            return list((await session.execute(select(Station).order_by(Station.id))).scalars())

    async def station(self, station_id: str) -> tuple[Station, list[Connector]]:
        async with self.sessions() as session:
            station = await session.get(Station, station_id)
            if station is None:
                raise NotFound(f"no station {station_id}")
            rows = await session.execute(
                select(Connector)
                .where(Connector.station_id == station_id)
                .order_by(col(Connector.evse_id), col(Connector.connector_id))
            )
            return station, list(rows.scalars())

    async def delete_station(self, station_id: str) -> None:
        async with self.sessions.begin() as session:
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
            await session.delete(station)

    async def transactions(
        self, station_id: str | None = None, limit: int = 100
    ) -> list[Transaction]:
        stmt = select(Transaction).order_by(col(Transaction.id).desc()).limit(limit)
        if station_id:
            stmt = stmt.where(Transaction.station_id == station_id)
        async with self.sessions() as session:
            return list((await session.execute(stmt)).scalars())

    async def add_token(self, data: TokenIn) -> LocalToken:
        token = LocalToken(
            uid=normalise_uid(data.uid),
            type=data.type,
            status=data.status,
            expires_at=data.expires_at,
        )
        try:
            async with self.sessions.begin() as session:
                session.add(token)
        except IntegrityError as e:
            raise Conflict(f"token {data.uid} ({data.type}) exists already") from e
        return token

    async def tokens(self) -> list[LocalToken]:
        async with self.sessions() as session:
            return list(
                (await session.execute(select(LocalToken).order_by(LocalToken.uid))).scalars()
            )

    async def delete_token(self, uid: str, type: str = "RFID") -> None:
        async with self.sessions.begin() as session:
            result = await session.execute(
                delete(LocalToken).where(
                    col(LocalToken.uid) == normalise_uid(uid), col(LocalToken.type) == type
                )
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"no token {uid} ({type})")
