"""OCPI Sessions as stored, one per csms transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column
from sqlmodel import Field, SQLModel

from cpo.sessions.v221 import SessionStatus
from csms.models import BigId, UTCDateTime, utcnow


class ChargingSession(SQLModel, table=True):
    """The OCPI Session of one csms transaction, rebuilt from the event log as the charge goes.

    `data` is the whole Session object as last built; `closed_periods` says how many of its
    charging periods can no longer grow (a PATCH appends only those), and `pushed_periods`
    with `pushed_digest` what the owner holds (periods that changed under it need a PUT).
    """

    __tablename__ = "charging_sessions"

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    ocpi_id: str = Field(max_length=36, unique=True)
    transaction_id: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    owner_id: int | None = Field(default=None, index=True)  # the token's Party
    status: str = Field(default=SessionStatus.ACTIVE, max_length=16)  # a SessionStatus
    # What the session is priced and described with, as it was when it started.
    tariff: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    location: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    time_zone: str | None = Field(default=None, max_length=64)
    # The OCPI version whose tariff rules price it (its owner's when it started); None: 2.2.1.
    pricing: str | None = Field(default=None, max_length=8)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    closed_periods: int = 0
    pushed_periods: int = 0
    pushed_digest: str | None = Field(default=None, max_length=64)
    # What went wrong with the meter data, for the operator and the CDR's remark.
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    preferences: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # When the CDR is due: the end, or later while the charger may still send missing messages.
    cdr_due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), index=True))
    cdr_made: bool = False
    last_updated: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
