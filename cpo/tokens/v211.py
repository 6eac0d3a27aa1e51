"""OCPI 2.1.1 Token objects (mod_tokens): what a 2.1.1 eMSP pushes, what the CPO asks when it
authorizes in real time, and what the eMSP answers; with the converters to and from the stored
2.2.1 form.

What 2.1.1 differs in: a Token has no country_code or party_id (they are in the URL the eMSP
pushes to), no group_id, default_profile_type or energy_contract; its contract reference is
named `auth_id` (2.2.1 `contract_id`); `uid` is a case-sensitive string(36); TokenType has only
OTHER and RFID. LocationReferences may name connectors; AuthorizationInfo carries neither the
token nor an authorization_reference."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from cpo.ocpi.models import Wire
from cpo.ocpi.models_v211 import DateTime, DisplayText, ascii_text, string
from cpo.tokens.v221 import AllowedType, WhitelistType
from cpo.tokens.v221 import AuthorizationInfo as AuthorizationInfo221
from cpo.tokens.v221 import Token as Token221

__all__ = [
    "AuthorizationInfo",
    "LocationReferences",
    "Token",
    "TokenType",
    "authorization_info_in",
    "location_references_out",
    "token_in",
    "token_out",
]


class TokenType(enum.StrEnum):
    OTHER = "OTHER"
    RFID = "RFID"


class Token(Wire):
    uid: Annotated[str, string(36, 1)]
    type: TokenType
    auth_id: Annotated[str, string(36, 1)]
    visual_number: Annotated[str, string(64)] | None = None
    # string(64) with cardinality 1; an empty issuer is refused, as 2.2.1 (where it is stored)
    # requires at least one character.
    issuer: Annotated[str, string(64, 1)]
    valid: bool
    whitelist: WhitelistType
    language: Annotated[str, string(2)] | None = None
    last_updated: DateTime


class LocationReferences(Wire):
    location_id: Annotated[str, string(39, 1)]
    evse_uids: list[Annotated[str, string(39, 1)]] | None = None
    connector_ids: list[Annotated[str, string(36, 1)]] | None = None


class AuthorizationInfo(Wire):
    allowed: AllowedType
    location: LocationReferences | None = None
    info: DisplayText | None = None


_TOKEN_TYPES = {t.value for t in TokenType}


def token_in(token: Token, country_code: str, party_id: str) -> dict[str, Any]:
    """A 2.1.1 Token as the platform stores it (2.2.1), owned by the eMSP whose URL it came to.

    2.2.1 compares uids without regard to case, so two 2.1.1 tokens whose uids differ only in
    case are one stored token."""
    stored = Token221.model_validate(
        {
            "country_code": country_code,
            "party_id": party_id,
            "uid": token.uid,
            "type": token.type.value,
            "contract_id": token.auth_id,
            "visual_number": token.visual_number,
            "issuer": token.issuer,
            "valid": token.valid,
            "whitelist": token.whitelist,
            "language": token.language,
            "last_updated": token.last_updated,
        }
    )
    return stored.wire()


def token_out(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored 2.2.1 Token as 2.1.1 sends it: AD_HOC_USER and APP_USER become OTHER."""
    out = {
        "uid": stored["uid"],
        "type": stored["type"] if stored["type"] in _TOKEN_TYPES else TokenType.OTHER,
        "auth_id": stored["contract_id"],
        "visual_number": (
            ascii_text(stored["visual_number"], 64) if "visual_number" in stored else None
        ),
        "issuer": ascii_text(stored["issuer"], 64),
        "valid": stored["valid"],
        "whitelist": stored["whitelist"],
        "language": stored.get("language"),
        "last_updated": stored["last_updated"],
    }
    return Token.model_validate(out).wire()


def location_references_out(stored: dict[str, Any]) -> dict[str, Any]:
    """A 2.2.1 LocationReferences as the 2.1.1 authorize request body (it names no connectors)."""
    out = {"location_id": stored["location_id"], "evse_uids": stored.get("evse_uids")}
    return LocationReferences.model_validate(out).wire()


def authorization_info_in(info: AuthorizationInfo, token: dict[str, Any]) -> dict[str, Any]:
    """A 2.1.1 eMSP's answer to an authorize request as the platform keeps it (2.2.1), for
    `token`, the stored token that was asked about. connector_ids, which 2.2.1 cannot carry, are
    dropped: the answer then holds for the whole EVSE."""
    stored: dict[str, Any] = {"allowed": info.allowed, "token": token}
    if info.location is not None:
        stored["location"] = {
            "location_id": info.location.location_id,
            "evse_uids": info.location.evse_uids,
        }
    if info.info is not None:
        stored["info"] = info.info.wire()
    return AuthorizationInfo221.model_validate(stored).wire()
