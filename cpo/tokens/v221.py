"""OCPI 2.2.1 Token objects (mod_tokens): what an eMSP pushes, and what real-time authorization
answers."""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import BaseModel, Field

from cpo.ocpi.models import (
    CountryCode,
    DateTime,
    DisplayText,
    PartyId,
    Wire,
    cistring,
    string,
)


class TokenType(enum.StrEnum):
    AD_HOC_USER = "AD_HOC_USER"
    APP_USER = "APP_USER"
    OTHER = "OTHER"
    RFID = "RFID"


class WhitelistType(enum.StrEnum):
    ALWAYS = "ALWAYS"
    ALLOWED = "ALLOWED"
    ALLOWED_OFFLINE = "ALLOWED_OFFLINE"
    NEVER = "NEVER"


class ProfileType(enum.StrEnum):
    CHEAP = "CHEAP"
    FAST = "FAST"
    GREEN = "GREEN"
    REGULAR = "REGULAR"


class AllowedType(enum.StrEnum):
    ALLOWED = "ALLOWED"
    BLOCKED = "BLOCKED"
    EXPIRED = "EXPIRED"
    NO_CREDIT = "NO_CREDIT"
    NOT_ALLOWED = "NOT_ALLOWED"


class EnergyContract(Wire):
    supplier_name: Annotated[str, string(64, 1)]
    contract_id: Annotated[str, string(64)] | None = None


class Token(Wire):
    country_code: CountryCode
    party_id: PartyId
    uid: Annotated[str, cistring(36)]
    type: TokenType
    contract_id: Annotated[str, cistring(36)]
    visual_number: Annotated[str, string(64)] | None = None
    issuer: Annotated[str, string(64, 1)]
    group_id: Annotated[str, cistring(36)] | None = None
    valid: bool
    whitelist: WhitelistType
    language: Annotated[str, string(2)] | None = None
    default_profile_type: ProfileType | None = None
    energy_contract: EnergyContract | None = None
    last_updated: DateTime


class LocationReferences(Wire):
    location_id: Annotated[str, cistring(36)]
    evse_uids: list[Annotated[str, cistring(36)]] | None = None


class AuthorizationInfo(Wire):
    allowed: AllowedType
    token: Token
    location: LocationReferences | None = None
    authorization_reference: Annotated[str, cistring(36)] | None = None
    info: DisplayText | None = None


class TokenPatch(BaseModel):
    last_updated: DateTime = Field(description="required on every Tokens PATCH")
