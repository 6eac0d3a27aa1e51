"""OCPI 2.2.1 (= 2.3.0) HubClientInfo: the hub's word on one party it relays for."""

from __future__ import annotations

import enum

from cpo.ocpi.models import CountryCode, DateTime, PartyId, Role, Wire


class ConnectionStatus(enum.StrEnum):
    CONNECTED = "CONNECTED"
    OFFLINE = "OFFLINE"  # not reachable now: nothing is sent to it until it is CONNECTED
    PLANNED = "PLANNED"  # not connected yet
    SUSPENDED = "SUSPENDED"  # gone from the hub for good


class ClientInfo(Wire):
    party_id: PartyId
    country_code: CountryCode
    role: Role
    status: ConnectionStatus
    last_updated: DateTime
