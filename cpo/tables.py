"""The OCPI side's shared tables: the parties, the log of OCPI requests, and leases."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

from cpo.ocpi.headers import PartyRef
from cpo.ocpi.models import VersionNumber
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
    # A roaming hub: its own country code and party id run together ("DEHUB"); None for others.
    hub_party: str | None = Field(default=None, max_length=5)
    # A party behind a hub (a "client"): the hub that relays for it, and what the hub last said
    # of its connection (a ClientStatus) and when. It has no tokens or endpoints of its own: it
    # is called through the hub's (cpo.hubs.clients.through), and calls us through the hub.
    hub_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    client_status: str | None = Field(default=None, max_length=16)
    client_updated: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))

    def endpoint(self, module: str, role: str | None = None) -> str | None:
        return endpoint_in(self.endpoints, module, role)

    @property
    def speaks(self) -> VersionNumber:
        """The OCPI version everything to and from this party is in (negotiated; 2.2.1 until
        it is)."""
        return VersionNumber(self.version) if self.version else VersionNumber.V2_2_1

    def origins(self) -> frozenset[str]:
        """Where the party may be called: its versions URL's origin and the allowed ones."""
        return home_origins(self.versions_url, self.allowed_origins)

    @property
    def hub(self) -> PartyRef | None:
        """A hub's own country code and party id (the broadcast's OCPI-to-*)."""
        return PartyRef(self.hub_party[:2], self.hub_party[2:]) if self.hub_party else None

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


class Lease(SQLModel, table=True):
    """Work that one process of the cluster does at a time (cpo.leases, ADR 017): who holds it
    until when, by the database's clock, and the fencing token of the holder's turn."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(sa_column=Column(Text, nullable=False))
    token: int = Field(sa_column=Column(BigInteger, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
