"""An eMSP's charging-profile requests as stored, with the result owed to it, and what the
platform keeps per session once an eMSP acted on it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Text
from sqlmodel import Field, SQLModel

from csms.models import BigId, UTCDateTime, utcnow


class Method(enum.StrEnum):
    """Which of the receiver's calls a request was: each owes its own kind of result."""

    SET = "SET"  # PUT: ChargingProfileResult
    GET = "GET"  # GET: ActiveChargingProfileResult
    CLEAR = "CLEAR"  # DELETE: ClearProfileResult


class RequestState(enum.StrEnum):
    """accepted (at the charger now) -> answered (the result is owed, or was sent)."""

    ACCEPTED = "accepted"
    ANSWERED = "answered"


class ChargingProfileRequest(SQLModel, table=True):
    """One GET, PUT or DELETE an eMSP sent: what it asked, where, and the result we owe it."""

    __tablename__ = "ocpi_charging_profile_requests"

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    party_id: int = Field(index=True)
    method: str = Field(max_length=8)  # a Method
    session_id: int = Field(sa_column=Column(BigInteger, nullable=False))  # charging_sessions.id
    # SET: the OCPI ChargingProfile; GET: {"duration": seconds}; CLEAR: {}.
    request: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    response_url: str = Field(sa_column=Column(Text, nullable=False))
    station_id: str = Field(max_length=48)
    ocpp_evse_id: int
    transaction_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    state: str = Field(default=RequestState.ACCEPTED, max_length=16)  # a RequestState
    result: str | None = Field(default=None, max_length=16)  # ChargingProfileResultType
    # GET: the ActiveChargingProfile the charger reported (with an ACCEPTED result).
    profile: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    node: str | None = Field(default=None, max_length=100)  # the node that carries it out
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class SessionProfile(SQLModel, table=True):
    """A session an eMSP has acted on with this module: the OCPP profile id it is given on its
    EVSE, whether a profile of the eMSP's was ever accepted there (only then does the eMSP
    hear of changes, OCPI says), the last time each call came (TOO_OFTEN), and the
    ActiveChargingProfile last learnt, which the outbox sends."""

    __tablename__ = "ocpi_session_profiles"

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    session_id: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    ocpi_session_id: str = Field(max_length=36)
    party_id: int
    station_id: str = Field(max_length=48, index=True)
    ocpp_evse_id: int
    profile_id: int
    ever_set: bool = False
    last_set_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_get_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_clear_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    active: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    active_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
