"""Tokens, RECEIVER: eMSPs push the tokens of their drivers; the platform keeps them per owner.

Identity is (country_code, party_id, uid, type), uid compared without regard to case; a party
reads and writes only its own. A uid longer than a 1.6 idTag (20) gets a short stand-in.
"""

from __future__ import annotations

import enum
import secrets
import string as strings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Table, delete, update
from sqlalchemy import select as select_columns
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select
from starlette.responses import Response

from cpo import upsert
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
from cpo.ocpi.status import OcpiError, Status, invalid, not_found, unauthorized
from cpo.parties import NotRegistered, hold_registered, peer_of
from csms import clock
from csms.models import Meta

IDTAG_MAX = 20  # OCPP 1.6 idTag
TOKENS: Table = OcpiToken.__table__  # type: ignore[attr-defined]
META: Table = Meta.__table__  # type: ignore[attr-defined]


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
STORE_PASSES = 8  # a key that vanishes under a store more often than this is a bug


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


async def store_tokens(
    session: AsyncSession, owner_id: int, tokens: Iterable[Token]
) -> list[tuple[bool, int]]:
    """Creates or replaces tokens for their owner: whether each was new, and its row id.

    The owner must be registered, read under a share lock: an unregistration that drops the
    owner's tokens waits for this transaction, or this one sees the party gone
    (NotRegistered) and writes nothing. A token written by a new registration of the same eMSP
    (same country_code/party_id) becomes the new party's. Each token is one INSERT ... ON
    CONFLICT DO NOTHING and, when the key was held, one UPDATE: no read-then-write race.
    """
    if await hold_registered(session, owner_id) is None:
        raise NotRegistered(owner_id)
    tokens = list(tokens)
    done: list[tuple[bool, int]] = [(False, 0)] * len(tokens)
    # Rows are locked in key order, whatever the order given: two batches holding the same
    # tokens (two pulls at once) wait for each other instead of deadlocking on PostgreSQL.
    for n in sorted(range(len(tokens)), key=lambda n: _key(tokens[n])):
        done[n] = await _store(session, owner_id, tokens[n])
    return done


def _key(token: Token) -> tuple[str, str, str, str]:
    return (
        token.country_code.upper(),
        token.party_id.upper(),
        token.uid.upper(),
        token.type.value,
    )


async def _store(session: AsyncSession, owner_id: int, token: Token) -> tuple[bool, int]:
    cc, pid, uid_key, kind = _key(token)
    key = (
        TOKENS.c.country_code == cc,
        TOKENS.c.party_id == pid,
        TOKENS.c.uid_key == uid_key,
        TOKENS.c.type == kind,
    )
    values: dict[str, Any] = dict(
        owner_id=owner_id,
        uid=token.uid,
        data=token.model_dump(
            mode="json",
            exclude_none=True,
            exclude={*KEYS, "valid", "whitelist", "last_updated"},
        ),
        valid=token.valid,
        whitelist=token.whitelist.value,
        last_updated=token.last_updated,
        received_at=clock.now(),
    )
    # The insert waits for a transaction inserting the same key and then yields to it; the
    # key's row may vanish before the update (its former owner's registration dropped, which
    # no lock of ours holds back): then it is inserted again.
    for _ in range(STORE_PASSES):
        created = (
            await session.execute(
                upsert.insert(session, TOKENS)
                .values(
                    values
                    | dict(
                        country_code=cc,
                        party_id=pid,
                        uid_key=uid_key,
                        type=kind,
                        short_tag=short_tag() if len(token.uid) > IDTAG_MAX else None,
                    )
                )
                .on_conflict_do_nothing(
                    index_elements=["country_code", "party_id", "uid_key", "type"]
                )
                .returning(TOKENS.c.id)
            )
        ).scalar_one_or_none()
        if created is not None:
            return True, int(created)
        row_id = (
            await session.execute(update(TOKENS).where(*key).values(values).returning(TOKENS.c.id))
        ).scalar_one_or_none()
        if row_id is not None:
            return False, int(row_id)
    raise RuntimeError(f"token {cc}/{pid}/{uid_key} kept vanishing while it was stored")


async def store_token(session: AsyncSession, owner_id: int, token: Token) -> tuple[bool, int]:
    """Creates or replaces one token (see `store_tokens`): whether it was new, and its row id."""
    return (await store_tokens(session, owner_id, [token]))[0]


@dataclass(frozen=True)
class Dropped:
    """A token removed with its owner's registration, as chargers' local lists may hold it."""

    uid: str
    short_tag: str | None
    type: str
    whitelist: str


async def drop_owned(session: AsyncSession, owner_id: int) -> list[Dropped]:
    """Deletes every token a party owns, in one statement; what was deleted."""
    rows = await session.execute(
        delete(TOKENS)
        .where(TOKENS.c.owner_id == owner_id)
        .returning(TOKENS.c.uid, TOKENS.c.short_tag, TOKENS.c.type, TOKENS.c.whitelist)
    )
    return [Dropped(*row) for row in rows]


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
        session: AsyncSession, cc: str, pid: str, uid: str, kind: str, lock: bool = False
    ) -> OcpiToken | None:
        stmt = select(OcpiToken).where(
            OcpiToken.country_code == cc,
            OcpiToken.party_id == pid,
            OcpiToken.uid_key == uid.upper(),
            OcpiToken.type == kind,
        )
        if lock:  # a PATCH merges into what it read: no other write in between
            stmt = stmt.with_for_update()
        return (await session.execute(stmt)).scalars().first()

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
        try:
            async with sessions.begin() as session:
                created, row_id = await store_token(session, call.party.id, token)
        except NotRegistered as e:  # unregistered while this request ran
            raise unauthorized(str(e)) from e
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
        assert call.party.id is not None
        try:
            async with sessions.begin() as session:
                # The party before the token, in the order an unregistration locks them.
                if await hold_registered(session, call.party.id) is None:
                    raise NotRegistered(call.party.id)
                row = await find(session, cc, pid, uid, kind, lock=True)
                if row is None:
                    raise unknown(uid, kind)
                merged = (
                    token_object(row) | body | {"last_updated": timestamp(changes.last_updated)}
                )
                token = Call.validate(Token, merged)
                _, row_id = await store_token(session, call.party.id, token)
        except NotRegistered as e:  # unregistered while this request ran
            raise unauthorized(str(e)) from e
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
    assert party.id is not None
    async for page in client.pages(url, peer_of(party), params=params, module="tokens"):
        tokens: list[Token] = []
        for raw in page:
            try:
                token = Token.model_validate(raw)
            except ValidationError:
                skipped += 1
                continue
            if not party.has_role(token.country_code, token.party_id):
                skipped += 1  # a party lists only its own tokens
                continue
            tokens.append(token)
            seen.add(
                (
                    token.country_code.upper(),
                    token.party_id.upper(),
                    token.uid.upper(),
                    token.type.value,
                )
            )
        async with sessions.begin() as session:
            await store_tokens(session, party.id, tokens)
        stored += len(tokens)
    invalidated = 0
    async with sessions.begin() as session:
        if full:
            rows = await session.execute(
                select_columns(
                    TOKENS.c.id,
                    TOKENS.c.country_code,
                    TOKENS.c.party_id,
                    TOKENS.c.uid_key,
                    TOKENS.c.type,
                ).where(TOKENS.c.owner_id == party.id, TOKENS.c.valid.is_(True))
            )
            missing = [row.id for row in rows if tuple(row[1:]) not in seen]
            for start in range(0, len(missing), 500):  # a bounded IN list per statement
                # A token pushed while we paged is newer than this list: not judged by it.
                result = await session.execute(
                    update(TOKENS)
                    .where(
                        TOKENS.c.id.in_(missing[start : start + 500]),
                        TOKENS.c.owner_id == party.id,
                        TOKENS.c.received_at < started,
                    )
                    .values(valid=False)
                )
                invalidated += int(result.rowcount or 0)  # type: ignore[attr-defined]
        await session.execute(
            upsert.insert(session, META)
            .values(key=key, value=timestamp(started))
            .on_conflict_do_update(index_elements=["key"], set_={"value": timestamp(started)})
        )
    return {"stored": stored, "skipped": skipped, "invalidated": invalidated}
