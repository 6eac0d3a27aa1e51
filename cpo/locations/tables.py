"""Locations and their EVSEs as stored: the operator's data, with each EVSE's live status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from csms.models import BigId, UTCDateTime, utcnow


class Location(SQLModel, table=True):
    """A site as the operator describes it; EVSEs are rows of their own (live status)."""

    __tablename__ = "locations"

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    ocpi_id: str = Field(max_length=36, unique=True)
    country_code: str = Field(max_length=2)
    party_id: str = Field(max_length=3)
    publish: bool = True
    # The OCPI Location fields the operator gave, less id, country_code, party_id, publish,
    # evses and last_updated.
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    last_updated: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class LocationEvse(SQLModel, table=True):
    """One EVSE of a Location, bound to the charger EVSE whose state gives it its status."""

    __tablename__ = "location_evses"
    __table_args__ = (UniqueConstraint("station_id", "ocpp_evse_id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    location_id: int = Field(foreign_key="locations.id", index=True)
    uid: str = Field(max_length=36, unique=True)
    station_id: str = Field(max_length=48, index=True)
    ocpp_evse_id: int = 1  # the 2.0.1 EVSE id, or the 1.6 connector id
    admin_status: str | None = Field(default=None, max_length=16)  # PLANNED | REMOVED
    status: str = Field(default="UNKNOWN", max_length=16)  # projected from the charger
    # The OCPI EVSE fields the operator gave (connectors included, each with last_updated),
    # less uid, status and last_updated.
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    last_updated: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
