"""The charging profiles each charger should hold: every profile it accepted, replaced by a
newer one with its id (or, as OCPP says, its purpose and stack level on the same EVSE), gone
when a clear it accepted matched it. The operator reads what a charger should do from here;
GetChargingProfiles asks what it really holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Table, UniqueConstraint, delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col, select

from csms import clock, upsert
from csms.models import BigId, UTCDateTime


class HeldProfile(SQLModel, table=True):
    __tablename__ = "charging_profiles"
    __table_args__ = (UniqueConstraint("station_id", "profile_id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    station_id: str = Field(max_length=48, index=True)
    evse_id: int  # 0: the whole charger
    profile_id: int
    purpose: str = Field(max_length=16)  # StationMax | TxDefault | Tx
    stack_level: int
    profile: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    set_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


PROFILES: Table = HeldProfile.__table__  # type: ignore[attr-defined]


async def held(
    session: AsyncSession, station_id: str, evse_id: int, profile: dict[str, Any]
) -> None:
    """An accepted SetChargingProfile: it replaces the charger's profile of the same id and
    the one of the same purpose and stack level on the same EVSE."""
    await session.execute(
        delete(HeldProfile).where(
            col(HeldProfile.station_id) == station_id,
            col(HeldProfile.profile_id) != profile["id"],
            col(HeldProfile.evse_id) == evse_id,
            col(HeldProfile.purpose) == profile["purpose"],
            col(HeldProfile.stack_level) == profile["stack_level"],
        )
    )
    row = {
        "station_id": station_id,
        "evse_id": evse_id,
        "profile_id": profile["id"],
        "purpose": profile["purpose"],
        "stack_level": profile["stack_level"],
        "profile": profile,
        "set_at": clock.now(),
    }
    stmt = upsert.insert(session, PROFILES).values(row)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["station_id", "profile_id"],
            set_={k: stmt.excluded[k] for k in row if k not in ("station_id", "profile_id")},
        )
    )


async def cleared(
    session: AsyncSession,
    station_id: str,
    id: int | None = None,
    evse_id: int | None = None,
    purpose: str | None = None,
    stack_level: int | None = None,
) -> None:
    """An accepted ClearChargingProfile: the profile of that id, or those meeting every
    criterion given."""
    stmt = delete(HeldProfile).where(col(HeldProfile.station_id) == station_id)
    if id is not None:
        stmt = stmt.where(col(HeldProfile.profile_id) == id)
    if evse_id is not None:
        stmt = stmt.where(col(HeldProfile.evse_id) == evse_id)
    if purpose is not None:
        stmt = stmt.where(col(HeldProfile.purpose) == purpose)
    if stack_level is not None:
        stmt = stmt.where(col(HeldProfile.stack_level) == stack_level)
    await session.execute(stmt)


async def of(session: AsyncSession, station_id: str) -> list[HeldProfile]:
    rows = await session.execute(
        select(HeldProfile)
        .where(HeldProfile.station_id == station_id)
        .order_by(col(HeldProfile.evse_id), col(HeldProfile.purpose), col(HeldProfile.stack_level))
    )
    return list(rows.scalars())
