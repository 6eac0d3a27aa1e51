"""eMSP commands and reservations as stored, with the result owed to the eMSP."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from csms.models import BigId, UTCDateTime, utcnow


class CommandState(enum.StrEnum):
    """accepted -> answered (the result is owed) -> linked (a START_SESSION's transaction
    came) or expired (it never did)."""

    ACCEPTED = "accepted"
    ANSWERED = "answered"
    LINKED = "linked"
    EXPIRED = "expired"


class ReservationStatus(enum.StrEnum):
    """requested -> active (the charger accepted) -> used | cancelled | expired; or refused."""

    REQUESTED = "requested"
    ACTIVE = "active"
    USED = "used"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUSED = "refused"


class OcpiCommand(SQLModel, table=True):
    """A command an eMSP sent: what it asked, what the charger was told, the result we owe it."""

    __tablename__ = "ocpi_commands"

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    party_id: int = Field(index=True)
    command: str = Field(max_length=24)  # START_SESSION, STOP_SESSION, ...
    request: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    response_url: str = Field(sa_column=Column(Text, nullable=False))
    station_id: str | None = Field(default=None, max_length=48, index=True)
    ocpp_evse_id: int | None = None
    ocpp_connector_id: int | None = None
    id_tag: str | None = Field(default=None, max_length=36)  # what the charger was given
    state: str = Field(default=CommandState.ACCEPTED, max_length=16)  # a CommandState
    result: str | None = Field(default=None, max_length=24)
    message: str | None = Field(default=None, sa_column=Column(Text))
    transaction_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    link_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    node: str | None = Field(default=None, max_length=100)  # the node that carries it out
    # Our role its result is from (OCPI-from-*): the owner of the Location it addressed; None
    # for a command that named none we know (the default role answers).
    from_country_code: str | None = Field(default=None, max_length=2)
    from_party_id: str | None = Field(default=None, max_length=3)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Reservation(SQLModel, table=True):
    """An eMSP's reservation; our id is what chargers see (unique across all eMSPs)."""

    __tablename__ = "reservations"
    __table_args__ = (UniqueConstraint("party_id", "emsp_reservation_id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    party_id: int
    emsp_reservation_id: str = Field(max_length=36)
    station_id: str = Field(max_length=48)
    ocpp_evse_id: int = 0  # 0: any EVSE of the charger
    location_id: str = Field(max_length=36)
    evse_uid: str | None = Field(default=None, max_length=36)
    token: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    authorization_reference: str | None = Field(default=None, max_length=36)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(default=ReservationStatus.REQUESTED, max_length=16)  # a ReservationStatus
    response_url: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
