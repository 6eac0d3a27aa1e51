"""Tokens, RECEIVER: eMSPs push the tokens of their drivers; the platform keeps them per owner.

Identity is (country_code, party_id, uid, type), uid compared without regard to case; a party
reads and writes only its own. A uid longer than a 1.6 idTag (20) gets a short stand-in.
"""

from __future__ import annotations

import enum
import secrets
import string as strings
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select
from starlette.responses import Response

from cpo.models import OcpiToken, Party
from cpo.ocpi.client import OcpiClient
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
from cpo.parties import peer_of
from csms import clock
from csms.models import Meta

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


def short_tag() -> str:
    """A stand-in a 1.6 idTag (20 characters) can hold, for a longer uid."""
    return "T" + "".join(
        secrets.choice(strings.ascii_uppercase + strings.digits) for _ in range(19)
    )


async def store_token(session: AsyncSession, owner_id: int, token: Token) -> tuple[bool, int]:
    """Creates or replaces a token: whether it was new, and its row id."""
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
            short_tag=short_tag() if len(token.uid) > IDTAG_MAX else None,
        )
        session.add(row)
    row.uid, row.data, row.valid, row.whitelist = (
        token.uid,
        data,
        token.valid,
        token.whitelist.value,
    )
    row.last_updated, row.received_at = token.last_updated, clock.now()
    await session.flush()
    assert row.id is not None
    return created, row.id


def module(
    sessions: async_sessionmaker[AsyncSession],
    changed: Callable[[list[int]], None] = lambda ids: None,
) -> Module:
    """`changed` hears of every token written (its row id), after the commit."""
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
            created, row_id = await store_token(session, call.party.id, token)
        changed([row_id])
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
            _, row_id = await store_token(session, call.party.id, token)
        changed([row_id])
        return OcpiResponse()

    return tokens


async def pull(
    sessions: async_sessionmaker[AsyncSession],
    client: OcpiClient,
    party: Party,
    full: bool = False,
) -> dict[str, int]:
    """Fetches the party's token list from its tokens SENDER, page after page.

    Incremental pulls ask for what changed since the last pull (`date_from`); a full pull is
    the new truth, so this party's tokens missing from every page stop being valid. Invalid
    objects in the list are skipped and counted: the valid ones are kept.
    """
    url = party.endpoint("tokens", "SENDER")
    if url is None:
        return {"stored": 0, "skipped": 0, "invalidated": 0}
    key = f"cpo.tokens.pulled.{party.id}"
    started = clock.now()
    async with sessions() as session:
        meta = await session.get(Meta, key)
    params = {} if full or meta is None else {"date_from": meta.value}
    seen: set[tuple[str, str, str, str]] = set()
    stored = skipped = 0
    async for page in client.pages(url, peer_of(party), params=params, module="tokens"):
        async with sessions.begin() as session:
            for raw in page:
                try:
                    token = Token.model_validate(raw)
                except ValidationError:
                    skipped += 1
                    continue
                if not party.has_role(token.country_code, token.party_id):
                    skipped += 1  # a party lists only its own tokens
                    continue
                assert party.id is not None
                await store_token(session, party.id, token)
                seen.add(
                    (
                        token.country_code.upper(),
                        token.party_id.upper(),
                        token.uid.upper(),
                        token.type.value,
                    )
                )
                stored += 1
    invalidated = 0
    async with sessions.begin() as session:
        if full:
            rows = await session.execute(select(OcpiToken).where(OcpiToken.owner_id == party.id))
            for row in rows.scalars():
                key_of = (row.country_code, row.party_id, row.uid_key, row.type)
                # A token pushed while we paged is newer than this list: not judged by it.
                if key_of not in seen and row.valid and row.received_at < started:
                    row.valid = False
                    invalidated += 1
        meta = await session.get(Meta, key)
        if meta is None:
            session.add(Meta(key=key, value=timestamp(started)))
        else:
            meta.value = timestamp(started)
    return {"stored": stored, "skipped": skipped, "invalidated": invalidated}
