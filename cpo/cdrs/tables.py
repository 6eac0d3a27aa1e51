"""CDRs as stored: written once, never changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from csms.models import BigId, UTCDateTime, utcnow


class Cdr(SQLModel, table=True):
    """A CDR as sent: immutable once made. A correction is a credit CDR and a new one."""

    __tablename__ = "cdrs"
    __table_args__ = (UniqueConstraint("session_id", "revision"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    ocpi_id: str = Field(max_length=39, unique=True)
    session_id: int = Field(sa_column=Column(BigInteger, nullable=False))  # ChargingSession.id
    # 0 = the original; each correction adds a credit (odd) and a replacement (even).
    revision: int = 0
    owner_id: int | None = Field(default=None, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Where the owner keeps it (the Location header of its answer to our POST).
    location_url: str | None = Field(default=None, sa_column=Column(Text))
    last_updated: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
