"""The firmware campaigns' tables: a campaign, one row per charger in it, and each charger's
history (what the platform did and what the charger reported, in order)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from csms.models import BigId, UTCDateTime, utcnow


class TargetState(StrEnum):
    PENDING = "pending"  # not sent yet
    SENDING = "sending"  # the command is on its way to the charger
    ACCEPTED = "accepted"  # the charger took it, no status yet
    UPDATING = "updating"  # the charger reports progress (Downloading, Installing, ...)
    OFFLINE = "offline"  # not connected when sent: sent again when it is
    RETRY = "retry"  # refused or failed: sent again at next_attempt_at
    INSTALLED = "installed"
    FAILED = "failed"  # failed on its last attempt
    CANCELLED = "cancelled"  # the operator cancelled the campaign before it ended here


FINAL = frozenset({TargetState.INSTALLED, TargetState.FAILED, TargetState.CANCELLED})


class FirmwareCampaign(SQLModel, table=True):
    __tablename__ = "firmware_campaigns"

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    location: str = Field(sa_column=Column(Text, nullable=False))
    retrieve_date: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    retries: int | None = None
    retry_interval: int | None = None
    signing_certificate: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    signature: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    attempts: int  # the most times one charger is sent the update
    attempt_interval: int  # seconds between a failure or refusal and the next attempt


class FirmwareTarget(SQLModel, table=True):
    """One charger of a campaign. `active` until installed or failed for good; a charger has
    at most one active row (a partial unique index), so a plain 1.6 FirmwareStatusNotification,
    which names no request, belongs to that one."""

    __tablename__ = "firmware_campaign_stations"
    __table_args__ = (
        UniqueConstraint("campaign_id", "station_id", name="uq_firmware_campaign_station"),
        Index(
            "ux_firmware_one_active",
            "station_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
        Index("ix_firmware_campaign_stations_request", "request_id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    campaign_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    station_id: str = Field(max_length=48)
    state: str = Field(default=TargetState.PENDING, max_length=16)
    active: bool = True
    attempts: int = 0
    request_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    firmware_status: str | None = Field(default=None, max_length=32)
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class FirmwareStep(SQLModel, table=True):
    """One line of a charger's history in a campaign, shown by attempt: the send, the answer,
    then what the charger reported (its first notification may be written before the answer
    is, so time alone does not order them). The id of an attempt's "Sent" line is
    the request id the charger is given: unique across nodes and restarts."""

    __tablename__ = "firmware_campaign_history"
    __table_args__ = (Index("ix_firmware_history_target", "target_id", "id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    target_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    attempt: int
    # "platform" (the send and the charger's answer to it) or "charger" (its notifications).
    source: str = Field(default="charger", max_length=16)
    status: str = Field(max_length=32)
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
