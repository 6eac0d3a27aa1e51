"""OCPI 2.2.1 Session objects (mod_sessions): a charging session as the eMSP sees it."""

from __future__ import annotations

import enum
from typing import Annotated

from cpo.cdrs.v221 import AuthMethod, CdrToken, ChargingPeriod, Cost
from cpo.ocpi.models import CountryCode, DateTime, PartyId, Wire, cistring, string
from cpo.tariffs.v221 import Currency


class SessionStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    INVALID = "INVALID"
    PENDING = "PENDING"
    RESERVATION = "RESERVATION"


class Session(Wire):
    country_code: CountryCode
    party_id: PartyId
    id: Annotated[str, cistring(36)]
    start_date_time: DateTime
    end_date_time: DateTime | None = None
    kwh: float
    cdr_token: CdrToken
    auth_method: AuthMethod
    authorization_reference: Annotated[str, cistring(36)] | None = None
    location_id: Annotated[str, cistring(36)]
    evse_uid: Annotated[str, cistring(36)]
    connector_id: Annotated[str, cistring(36)]
    meter_id: Annotated[str, string(255)] | None = None
    currency: Currency
    charging_periods: list[ChargingPeriod] | None = None
    total_cost: Cost | None = None
    status: SessionStatus
    last_updated: DateTime
