"""Tokens, RECEIVER: eMSPs push the tokens of their drivers; the platform keeps them per owner.

Identity is (country_code, party_id, uid, type), uid compared without regard to case; a party
reads and writes only its own. A uid longer than a 1.6 idTag (20) gets a short stand-in.
"""

from __future__ import annotations

import enum
import secrets
import string as strings
from typing import Annotated, Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select
from starlette.responses import Response

from cpo.models import OcpiToken
from cpo.ocpi.locations import TokenType
from cpo.ocpi.models import (
    CountryCode,
    DateTime,
    DisplayText,
    PartyId,
    Wire,
    cistring,
    string,
)
from cpo.ocpi.responses import OcpiResponse, timestamp
from cpo.ocpi.router import Call, Module
from cpo.ocpi.status import OcpiError, Status, invalid, not_found

IDTAG_MAX = 20  # OCPP 1.6 idTag


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


class _Patch(BaseModel):
    last_updated: DateTime = Field(description="required on every Tokens PATCH")


KEYS = ("country_code", "party_id", "uid", "type")


def token_object(row: OcpiToken) -> dict[str, Any]:
    return (
        {
            "country_code": row.country_code,
            "party_id": row.party_id,
            "uid": row.uid,
            "type": row.type,
        }
        | row.data
        | {
            "valid": row.valid,
            "whitelist": row.whitelist,
            "last_updated": timestamp(row.last_updated),
        }
    )


def _short_tag() -> str:
    return "T" + "".join(
        secrets.choice(strings.ascii_uppercase + strings.digits) for _ in range(19)
    )


async def store_token(session: AsyncSession, owner_id: int, token: Token) -> bool:
    """Creates or replaces a token; True when it was new."""
    key = token.uid.upper()
    row = (
        (
            await session.execute(
                select(OcpiToken).where(
                    OcpiToken.country_code == token.country_code.upper(),
                    OcpiToken.party_id == token.party_id.upper(),
                    OcpiToken.uid_key == key,
                    OcpiToken.type == token.type.value,
                )
            )
        )
        .scalars()
        .first()
    )
    data = token.model_dump(
        mode="json", exclude_none=True, exclude={*KEYS, "valid", "whitelist", "last_updated"}
    )
    created = row is None
    if row is None:
        row = OcpiToken(
            owner_id=owner_id,
            country_code=token.country_code.upper(),
            party_id=token.party_id.upper(),
            uid=token.uid,
            uid_key=key,
            type=token.type.value,
            whitelist=token.whitelist.value,
            last_updated=token.last_updated,
            short_tag=_short_tag() if len(token.uid) > IDTAG_MAX else None,
        )
        session.add(row)
    row.uid, row.data, row.valid, row.whitelist = (
        token.uid,
        data,
        token.valid,
        token.whitelist.value,
    )
    row.last_updated = token.last_updated
    return created


def module(sessions: async_sessionmaker[AsyncSession]) -> Module:
    tokens = Module("tokens", "RECEIVER")
    path = "/{country_code}/{party_id}/{uid}"

    def target(call: Call) -> tuple[str, str, str, str]:
        p = call.request.path_params
        cc, pid, uid = p["country_code"], p["party_id"], p["uid"]
        if not call.party.has_role(cc, pid):
            raise OcpiError(
                Status.INVALID_PARAMETERS,
                f"{cc}/{pid} is not one of your roles: you may only touch your own tokens",
                http=401,
            )
        kind = call.request.query_params.get("type", "RFID")
        if kind not in TokenType.__members__:
            raise invalid(
                f"type must be one of {', '.join(TokenType)}, not {kind[:20]!r}", http=400
            )
        if len(uid) > 36:
            raise invalid("uid: at most 36 characters", http=400)
        return cc.upper(), pid.upper(), uid, kind

    async def find(
        session: AsyncSession, cc: str, pid: str, uid: str, kind: str
    ) -> OcpiToken | None:
        rows = await session.execute(
            select(OcpiToken).where(
                OcpiToken.country_code == cc,
                OcpiToken.party_id == pid,
                OcpiToken.uid_key == uid.upper(),
                OcpiToken.type == kind,
            )
        )
        return rows.scalars().first()

    def unknown(uid: str, kind: str) -> OcpiError:
        return not_found(f"no token {uid!r} of type {kind}", Status.UNKNOWN_TOKEN)

    @tokens.on("GET", path)
    async def read(call: Call) -> Response:
        cc, pid, uid, kind = target(call)
        async with sessions() as session:
            row = await find(session, cc, pid, uid, kind)
        if row is None:
            raise unknown(uid, kind)
        return OcpiResponse(token_object(row))

    @tokens.on("PUT", path)
    async def put(call: Call) -> Response:
        cc, pid, uid, kind = target(call)
        token = call.json(Token)
        given = (
            token.country_code.upper(),
            token.party_id.upper(),
            token.uid.upper(),
            token.type.value,
        )
        if given != (cc, pid, uid.upper(), kind):
            raise invalid(
                f"the token names {'/'.join(given)}, the URL {cc}/{pid}/{uid.upper()}?type={kind}"
            )
        assert call.party.id is not None
        async with sessions.begin() as session:
            created = await store_token(session, call.party.id, token)
        return OcpiResponse(http=201 if created else 200)

    @tokens.on("PATCH", path)
    async def patch(call: Call) -> Response:
        cc, pid, uid, kind = target(call)
        changes = call.json(_Patch)  # last_updated is required
        body: dict[str, Any] = call.json_value()
        for key in KEYS:
            if (
                key in body
                and str(body[key]).upper()
                != {"country_code": cc, "party_id": pid, "uid": uid.upper(), "type": kind}[key]
            ):
                raise invalid(f"{key} cannot be changed by a PATCH")
        async with sessions.begin() as session:
            row = await find(session, cc, pid, uid, kind)
            if row is None:
                raise unknown(uid, kind)
            merged = token_object(row) | body | {"last_updated": timestamp(changes.last_updated)}
            token = Call.validate(Token, merged)
            assert call.party.id is not None
            await store_token(session, call.party.id, token)
        return OcpiResponse()

    return tokens
