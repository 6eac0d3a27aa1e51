"""Tariffs as stored: the operator's prices in their OCPI 2.2.1 form."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from csms.models import BigId, UTCDateTime, utcnow


class Tariff(SQLModel, table=True):
    __tablename__ = "tariffs"

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    ocpi_id: str = Field(max_length=36, unique=True)
    country_code: str = Field(max_length=2)
    party_id: str = Field(max_length=3)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    deleted: bool = False  # kept so the DELETE reaches every party
    last_updated: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
