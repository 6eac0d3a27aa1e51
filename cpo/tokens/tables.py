"""eMSP tokens as stored, per owner."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from csms.models import BigId, UTCDateTime, utcnow


class OcpiToken(SQLModel, table=True):
    """A token an eMSP pushed (or we pulled): keyed on (country_code, party_id, uid, type)."""

    __tablename__ = "ocpi_tokens"
    __table_args__ = (
        UniqueConstraint("country_code", "party_id", "uid_key", "type"),
        Index("ix_ocpi_tokens_uid", "uid_key"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    owner_id: int = Field(index=True)  # the Party that owns it
    country_code: str = Field(max_length=2)
    party_id: str = Field(max_length=3)
    uid: str = Field(max_length=36)  # as the eMSP wrote it
    uid_key: str = Field(max_length=36)  # upper-cased: uids are CiStrings
    type: str = Field(max_length=16)
    valid: bool = True
    whitelist: str = Field(max_length=16)
    # What a 1.6 charger (idTag of at most 20 characters) is given for a longer uid.
    short_tag: str | None = Field(default=None, max_length=20, unique=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    last_updated: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    # When we last got it (push or pull): a full pull does not judge tokens newer than itself.
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
