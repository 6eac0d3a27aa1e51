"""The push outbox (what each party is owed) and what each party holds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from csms.models import BigId, UTCDateTime, utcnow


class PendingPush(SQLModel, table=True):
    """ "This object needs sending to this party": written with the change that causes it.

    Changes coalesce into one row per (party, kind, object); `version` grows with each, so
    a deliverer removes the row only if nothing changed while it was sending.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("party_id", "kind", "object_id"),
        Index("ix_outbox_due", "party_id", "failed", "due_at"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    party_id: int = Field(index=True)
    kind: str = Field(max_length=16)  # location | tariff | session | cdr
    object_id: str = Field(max_length=80)
    scope: str = Field(default="full", max_length=8)  # status: only EVSE statuses changed
    evses: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    version: int = 1
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # The deliverer holding the lease: when its process dies, the server frees its rows at
    # once rather than when the lease runs out (cpo.push.worker).
    claimed_by: str | None = Field(default=None, max_length=128)  # node/part (cpo.push.worker)
    attempts: int = 0
    failed: bool = False  # refused for good (OCPI 2xxx): waits for the operator
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    # What an earlier send of this row delivered of its parts (EVSE uid → OCPI last_updated),
    # kept when the row changed while it was sent (cpo.push.deliverer.Claimed).
    sent_parts: dict[str, str] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Delivered(SQLModel, table=True):
    """The version of an object a party confirmed holding (so a PATCH can build on it)."""

    __tablename__ = "delivered"

    party_id: int = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=16)
    object_id: str = Field(primary_key=True, max_length=80)
    last_updated: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    delivered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
