"""The OCPI side's tables: parties, request log, locations, tariffs, sessions, CDRs and the push outbox."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from cpo.ocpi.urls import home_origins
from csms.models import BigId, UTCDateTime, utcnow


class PartyState(enum.StrEnum):
    INVITED = "INVITED"  # we issued token A; the peer has not registered yet
    REGISTERING = "REGISTERING"  # we are registering with the peer (we were given its token A)
    REGISTERED = "REGISTERED"
    SUSPENDED = "SUSPENDED"  # the operator stopped all traffic; tokens kept
    UNREGISTERED = "UNREGISTERED"  # credentials deleted by either side; kept for the record


def endpoint_in(endpoints: list[dict[str, Any]], module: str, role: str | None) -> str | None:
    """The URL of a party's endpoint for `module` (in `role`, if given), or None."""
    for e in endpoints:
        if e.get("identifier") == module and (role is None or e.get("role") == role):
            return str(e["url"])
    return None


class Party(SQLModel, table=True):
    """One OCPI peer platform, with the roles it registered, its endpoints and both tokens.

    `incoming_token_hash` is the SHA-256 of the token the peer calls us with (A while
    invited, then the one we issued); we only check it, so only its hash is kept.
    `outgoing_token` is the token we call the peer with; we must send it, so it is kept.
    """

    __tablename__ = "parties"

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    name: str = Field(default="", max_length=100)
    state: str = Field(default=PartyState.INVITED, max_length=16)  # a PartyState
    roles: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    version: str | None = Field(default=None, max_length=8)
    versions_url: str | None = Field(default=None, max_length=255)
    endpoints: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    incoming_token_hash: str | None = Field(default=None, max_length=64, unique=True)
    outgoing_token: str | None = Field(default=None, max_length=64)
    token_encoding: str = Field(default="base64", max_length=8)  # base64 | raw
    # Origins (scheme://host:port) the operator lets this party be called at besides its
    # versions URL's own (a hub, a separate API host).
    allowed_origins: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    # A versions URL on another origin the party asked to move to; the move waits for the
    # operator's approval, and nothing is sent there before it.
    pending_versions_url: str | None = Field(default=None, max_length=255)
    pending_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    registered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))

    def endpoint(self, module: str, role: str | None = None) -> str | None:
        return endpoint_in(self.endpoints, module, role)

    def origins(self) -> frozenset[str]:
        """Where the party may be called: its versions URL's origin and the allowed ones."""
        return home_origins(self.versions_url, self.allowed_origins)

    def has_role(self, country_code: str, party_id: str) -> bool:
        return any(
            str(r.get("country_code", "")).upper() == country_code.upper()
            and str(r.get("party_id", "")).upper() == party_id.upper()
            for r in self.roles
        )


class OcpiLogEntry(SQLModel, table=True):
    """One OCPI request, in or out, with its answer (tokens in bodies are masked)."""

    __tablename__ = "ocpi_log"
    __table_args__ = (
        Index("ix_ocpi_log_party", "party_id", "id"),
        Index("ix_ocpi_log_created", "created_at"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    party_id: int | None = None
    direction: str = Field(max_length=3)  # in | out
    method: str = Field(max_length=8)
    url: str = Field(sa_column=Column(Text, nullable=False))
    http_status: int | None = None
    ocpi_status: int | None = None
    request_id: str | None = Field(default=None, max_length=64)
    correlation_id: str | None = Field(default=None, max_length=64)
    duration_ms: float | None = None
    request_body: str | None = Field(default=None, sa_column=Column(Text))
    response_body: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))


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
    status: str = Field(default="ACTIVE", max_length=16)
    # What the session is priced and described with, as it was when it started.
    tariff: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    location: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    time_zone: str | None = Field(default=None, max_length=64)
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
    # accepted -> answered (the result is owed) -> linked (a START_SESSION's transaction came)
    # or expired (it never did).
    state: str = Field(default="accepted", max_length=16)
    result: str | None = Field(default=None, max_length=24)
    message: str | None = Field(default=None, sa_column=Column(Text))
    transaction_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    link_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    node: str | None = Field(default=None, max_length=100)  # the node that carries it out
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
    # requested -> active (the charger accepted) -> used | cancelled | expired; or refused
    status: str = Field(default="requested", max_length=16)
    response_url: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Lease(SQLModel, table=True):
    """Work that one process of the cluster does at a time (cpo.leases, ADR 017): who holds it
    until when, by the database's clock, and the fencing token of the holder's turn."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(sa_column=Column(Text, nullable=False))
    token: int = Field(sa_column=Column(BigInteger, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
