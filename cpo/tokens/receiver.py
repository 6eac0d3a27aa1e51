"""Tokens, RECEIVER: eMSPs push the tokens of their drivers, and we pull their lists.

A party reads and writes only its own tokens (cpo.tokens.store keeps them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Table, update
from sqlalchemy import select as select_columns
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select
from starlette.responses import Response

from cpo.ocpi.client import OcpiClient
from cpo.ocpi.models import VersionNumber
from cpo.ocpi.responses import OcpiResponse, timestamp
from cpo.ocpi.router import Call, Module
from cpo.ocpi.status import OcpiError, Status, invalid, not_found, unauthorized
from cpo.parties import NotRegistered, hold_registered, peer_of, role_key
from cpo.tables import Party
from cpo.tokens.store import KEYS, TOKENS, store_token, store_tokens, token_object
from cpo.tokens.tables import OcpiToken
from cpo.tokens.v221 import Token, TokenPatch
from cpo.tokens.wire import TOKEN_TYPES, own_role, token_in, token_out
from csms import clock, upsert
from csms.models import Meta

META: Table = Meta.__table__  # type: ignore[attr-defined]


def module(
    database: async_sessionmaker[AsyncSession],
    changed: Callable[[list[int]], None] = lambda ids: None,
) -> Module:
    """`changed` hears of every token written (its row id), after the commit."""
    tokens = Module("tokens", "RECEIVER")
    path = "/{country_code}/{party_id}/{uid}"

    def target(call: Call) -> tuple[str, str, str, str | None]:
        """The token the URL names: (COUNTRY, PARTY, uid, type); no type in 2.1.1, whose URL
        names none (a uid is then one token, whatever its type)."""
        p = call.request.path_params
        cc, pid, uid = p["country_code"], p["party_id"], p["uid"]
        if not call.party.has_role(cc, pid):
            raise OcpiError(
                Status.INVALID_PARAMETERS,
                f"{cc}/{pid} is not one of your roles: you may only touch your own tokens",
                http=401,
            )
        if len(uid) > 36:
            raise invalid("uid: at most 36 characters", http=400)
        if call.in_version == VersionNumber.V2_1_1:
            return cc.upper(), pid.upper(), uid, None
        kind = call.request.query_params.get("type", "RFID")
        if kind not in (types := TOKEN_TYPES[call.in_version]):
            raise invalid(
                f"type must be one of {', '.join(sorted(types))}, not {kind[:20]!r}", http=400
            )
        return cc.upper(), pid.upper(), uid, kind

    async def find(
        session: AsyncSession, cc: str, pid: str, uid: str, kind: str | None, lock: bool = False
    ) -> OcpiToken | None:
        stmt = select(OcpiToken).where(
            OcpiToken.country_code == cc,
            OcpiToken.party_id == pid,
            OcpiToken.uid_key == uid.upper(),
        )
        if kind is not None:
            stmt = stmt.where(OcpiToken.type == kind)
        else:
            stmt = stmt.order_by(col(OcpiToken.id)).limit(1)
        if lock:  # a PATCH merges into what it read: no other write in between
            stmt = stmt.with_for_update()
        return (await session.execute(stmt)).scalars().first()

    def unknown(uid: str, kind: str | None) -> OcpiError:
        of_type = f" of type {kind}" if kind else ""
        return not_found(f"no token {uid!r}{of_type}", Status.UNKNOWN_TOKEN)

    @tokens.on("GET", path)
    async def read(call: Call) -> Response:
        cc, pid, uid, kind = target(call)
        async with database() as session:
            row = await find(session, cc, pid, uid, kind)
        if row is None:
            raise unknown(uid, kind)
        return OcpiResponse(token_out(token_object(row), call.in_version))

    @tokens.on("PUT", path)
    async def put(call: Call) -> Response:
        cc, pid, uid, kind = target(call)
        token = token_in(call.json_value(), call.in_version, cc, pid)
        given = (
            token.country_code.upper(),
            token.party_id.upper(),
            token.uid.upper(),
            token.type.value,
        )
        if given != (cc, pid, uid.upper(), kind or token.type.value):
            raise invalid(
                f"the token names {'/'.join(given)}, the URL {cc}/{pid}/{uid.upper()}"
                + (f"?type={kind}" if kind else "")
            )
        assert call.party.id is not None
        try:
            async with database.begin() as session:
                created, row_id = await store_token(session, call.party.id, token)
        except NotRegistered as e:  # unregistered while this request ran
            raise unauthorized(str(e)) from e
        changed([row_id])
        return OcpiResponse(http=201 if created else 200)

    @tokens.on("PATCH", path)
    async def patch(call: Call) -> Response:
        cc, pid, uid, kind = target(call)
        version = call.in_version
        body: dict[str, Any] = call.json_value()
        if version != VersionNumber.V2_1_1:
            call.json(TokenPatch)  # last_updated is required from 2.2 on
        elif not isinstance(body, dict):
            raise invalid("a PATCH body is an object of the fields that change")
        assert call.party.id is not None
        try:
            async with database.begin() as session:
                # The party before the token, in the order an unregistration locks them.
                if await hold_registered(session, call.party.id) is None:
                    raise NotRegistered(call.party.id)
                row = await find(session, cc, pid, uid, kind, lock=True)
                if row is None:
                    raise unknown(uid, kind)
                held = token_out(token_object(row), version)
                for key in KEYS:
                    if key in body and str(body[key]).upper() != str(held.get(key, "")).upper():
                        raise invalid(f"{key} cannot be changed by a PATCH")
                merged = held | body
                merged.setdefault("last_updated", timestamp(clock.now()))  # 2.1.1 may leave it out
                token = token_in(merged, version, cc, pid)
                _, row_id = await store_token(session, call.party.id, token)
        except NotRegistered as e:  # unregistered while this request ran
            raise unauthorized(str(e)) from e
        changed([row_id])
        return OcpiResponse()

    return tokens


async def pull(
    database: async_sessionmaker[AsyncSession],
    client: OcpiClient,
    party: Party,
    full: bool = False,
    owners: Mapping[tuple[str, str], int] | None = None,
) -> dict[str, int]:
    """Fetches the party's token list from its tokens SENDER, page after page.

    Incremental pulls ask for what changed since the last pull (`date_from`); a full pull is
    the new truth, so this party's tokens missing from every page stop being valid. Invalid
    objects in the list are skipped and counted: the valid ones are kept. A hub's list holds
    the tokens of the parties behind it: `owners` (COUNTRY, PARTY) → the party each is kept
    under; a token of anyone else is skipped.
    """
    url = party.endpoint("tokens", "SENDER")
    if url is None:
        return {"stored": 0, "skipped": 0, "invalidated": 0}
    key = f"cpo.tokens.pulled.{party.id}"
    started = clock.now()
    async with database() as session:
        meta = await session.get(Meta, key)
    params = {} if full or meta is None else {"date_from": meta.value}
    seen: set[tuple[str, str, str, str]] = set()
    stored = skipped = 0
    assert party.id is not None
    if owners is None:
        owners = {(cc.upper(), pid.upper()): party.id for _, cc, pid in map(role_key, party.roles)}
    async for page in client.pages(url, peer_of(party), params=params, module="tokens"):
        tokens: dict[int, list[Token]] = {}
        for raw in page:
            try:
                token = token_in(raw, party.speaks, *own_role(party))
            except OcpiError:
                skipped += 1
                continue
            owner = owners.get((token.country_code.upper(), token.party_id.upper()))
            if owner is None:
                skipped += 1  # a party lists only its own tokens (a hub its clients')
                continue
            tokens.setdefault(owner, []).append(token)
            seen.add(
                (
                    token.country_code.upper(),
                    token.party_id.upper(),
                    token.uid.upper(),
                    token.type.value,
                )
            )
        async with database.begin() as session:
            for owner, theirs in tokens.items():
                await store_tokens(session, owner, theirs)
                stored += len(theirs)
    invalidated = 0
    async with database.begin() as session:
        if full:
            rows = await session.execute(
                select_columns(
                    TOKENS.c.id,
                    TOKENS.c.country_code,
                    TOKENS.c.party_id,
                    TOKENS.c.uid_key,
                    TOKENS.c.type,
                ).where(TOKENS.c.owner_id.in_(set(owners.values())), TOKENS.c.valid.is_(True))
            )
            missing = [row.id for row in rows if tuple(row[1:]) not in seen]
            for start in range(0, len(missing), 500):  # a bounded IN list per statement
                # A token pushed while we paged is newer than this list: not judged by it.
                result = await session.execute(
                    update(TOKENS)
                    .where(
                        TOKENS.c.id.in_(missing[start : start + 500]),
                        TOKENS.c.owner_id.in_(set(owners.values())),
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
