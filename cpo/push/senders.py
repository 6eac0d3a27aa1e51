"""How each kind of object reaches a party's receiver: PUT, PATCH, POST or DELETE on the spec's URLs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select as select_columns
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.charging_sessions import periods_digest
from cpo.models import (
    Cdr,
    ChargingSession,
    Location,
    LocationEvse,
    OcpiCommand,
    Party,
    PendingPush,
    Tariff,
)
from cpo.ocpi.client import OcpiCallError, OcpiClient, RefusedRequest
from cpo.ocpi.responses import timestamp
from cpo.ocpi.urls import BadSegment, join, segment
from cpo.parties import peer_of
from cpo.push.deliverer import Claimed, Deferred, Sender, Sent
from cpo.remote_commands import result_body
from cpo.sites import EVSES, LOCATION_ROWS, location_object, tariff_object


def _base(party: Party, module: str) -> str:
    """The party's receiver for `module`, exactly as it published it (a trailing slash too)."""
    url = party.endpoint(module, "RECEIVER")
    if url is None:
        raise OcpiCallError(f"party {party.id} lists no {module} RECEIVER any more", "", None, 2000)
    return url


def _object_url(party: Party, module: str, country_code: str, party_id: str, *ids: str) -> str:
    """`{endpoint}/{country_code}/{party_id}/{id}[/…]`, each segment checked and encoded. An id
    that cannot be one is refused for good (OCPI 2001): no request could carry it."""
    base = _base(party, module)
    try:
        segments = [segment(country_code, 2, "country_code"), segment(party_id, 3, "party_id")]
        segments += [segment(i) for i in ids]
    except BadSegment as e:
        raise RefusedRequest(f"{module} {'/'.join(ids)}: {e}", base, None, 2001) from None
    return join(base, *segments)


# More EVSEs changed than this at one Location travel as one PUT of it, not a PATCH each.
PATCHES_BEFORE_PUT = 2

# Fields of a Session that a PATCH leaves out: its identity, and the periods it appends.
SESSION_KEYS = {"country_code", "party_id", "id", "charging_periods"}


async def _whole_location(
    session: AsyncSession, ocpi_id: str
) -> tuple[dict[str, Any], datetime] | None:
    """The Location as an eMSP holds it, and its last_updated (None if it is gone)."""
    rows = (
        await session.execute(
            select(Location, LocationEvse)
            .outerjoin(LocationEvse, col(LocationEvse.location_id) == col(Location.id))
            .where(Location.ocpi_id == ocpi_id)
            .order_by(col(LocationEvse.id))
        )
    ).all()
    if not rows:
        return None
    found = rows[0][0]
    return location_object(found, [e for _, e in rows if e is not None]), found.last_updated


def senders(
    sessions: async_sessionmaker[AsyncSession],
    client: OcpiClient,
    readers: async_sessionmaker[AsyncSession] | None = None,
) -> dict[str, Sender]:
    """The senders of each kind. What they send is read through `readers` (connections that
    only read, when there are any), what they note afterwards written through `sessions`."""
    readers = readers or sessions

    async def location(party: Party, row: Claimed, held: bool) -> Sent | None:
        async with readers() as session:
            # What a PATCH needs, in one light query; the whole Location only for a PUT.
            rows = (
                await (await session.connection()).execute(
                    select_columns(
                        LOCATION_ROWS.c.country_code,
                        LOCATION_ROWS.c.party_id,
                        LOCATION_ROWS.c.last_updated,
                        EVSES.c.uid,
                        EVSES.c.status,
                        EVSES.c.admin_status,
                        EVSES.c.last_updated.label("evse_updated"),
                    )
                    .outerjoin(EVSES, EVSES.c.location_id == LOCATION_ROWS.c.id)
                    .where(LOCATION_ROWS.c.ocpi_id == row.object_id)
                )
            ).all()
            if not rows:
                return None
            by_uid = {r.uid: r for r in rows if r.uid is not None}
            patch = (
                row.scope == "status"
                and held
                and len(row.evses) <= PATCHES_BEFORE_PUT
                and all(u in by_uid for u in row.evses)
            )
            whole = None if patch else await _whole_location(session, row.object_id)
        found = rows[0]
        keys = (party, "locations", found.country_code, found.party_id)
        url = _object_url(*keys, row.object_id)
        peer = peer_of(party)
        if patch:
            # The party holds the location: only the statuses that changed travel.
            evses_held = dict(row.sent_parts or {})
            for uid in row.evses:
                evse = by_uid[uid]
                body = {
                    "status": evse.admin_status or evse.status,
                    "last_updated": timestamp(evse.evse_updated),
                }
                if evses_held.get(uid) == body["last_updated"]:
                    continue  # sent by an earlier try of this row, and not changed since
                await client.call(
                    "PATCH",
                    _object_url(*keys, row.object_id, uid),
                    peer,
                    json=body,
                    functional=True,
                    module="locations",
                )
                evses_held[uid] = body["last_updated"]
            return Sent(found.last_updated, evses_held)
        if whole is None:
            return None  # gone meanwhile
        await client.call("PUT", url, peer, json=whole[0], functional=True, module="locations")
        # The whole Location holds each EVSE as it was at least when its rows were read.
        held_now = {
            uid: timestamp(evse.evse_updated) for uid, evse in by_uid.items() if evse.evse_updated
        }
        return Sent(whole[1], held_now)

    async def tariff(party: Party, row: Claimed, held: bool) -> datetime | None:
        async with readers() as session:
            found = (
                (await session.execute(select(Tariff).where(Tariff.ocpi_id == row.object_id)))
                .scalars()
                .first()
            )
        if found is None:
            return None
        url = _object_url(party, "tariffs", found.country_code, found.party_id, found.ocpi_id)
        peer = peer_of(party)
        if found.deleted:
            if not held:
                return None  # the party never had it
            await client.call("DELETE", url, peer, functional=True, module="tariffs")
        else:
            body = tariff_object(found)
            await client.call("PUT", url, peer, json=body, functional=True, module="tariffs")
        return found.last_updated

    async def charging_session(party: Party, row: Claimed, held: bool) -> datetime | None:
        """PUT the first time and after any doubt; then PATCH, appending only closed periods."""
        if party.endpoint("sessions", "RECEIVER") is None:
            return None  # the party pulls sessions instead (GET /sessions)
        async with readers() as session:
            found = (
                (
                    await session.execute(
                        select(ChargingSession).where(ChargingSession.ocpi_id == row.object_id)
                    )
                )
                .scalars()
                .first()
            )
        if found is None or found.location is None or found.owner_id != party.id:
            return None  # only ever to its owner (the operator's own charges have none)
        data, closed = found.data, found.closed_periods
        periods = data["charging_periods"]
        url = _object_url(party, "sessions", data["country_code"], data["party_id"], data["id"])
        peer = peer_of(party)
        holds_ours = (
            held
            and row.scope != "full"
            and found.pushed_periods <= closed
            and found.pushed_digest == periods_digest(periods[: found.pushed_periods])
        )
        if holds_ours:
            body = {k: v for k, v in data.items() if k not in SESSION_KEYS}
            if fresh := periods[found.pushed_periods : closed]:
                body["charging_periods"] = fresh
            await client.call("PATCH", url, peer, json=body, functional=True, module="sessions")
        else:
            body = data | {"charging_periods": periods[:closed]}
            await client.call("PUT", url, peer, json=body, functional=True, module="sessions")
        async with sessions.begin() as session:
            await session.execute(
                update(ChargingSession)
                .where(col(ChargingSession.id) == found.id)
                .values(pushed_periods=closed, pushed_digest=periods_digest(periods[:closed]))
            )
        return found.last_updated

    async def cdr(party: Party, row: Claimed, held: bool) -> datetime | None:
        """POSTed once it is accepted, never again; after its Session's last update."""
        if party.endpoint("cdrs", "RECEIVER") is None:
            return None  # the party pulls CDRs instead (GET /cdrs)
        async with readers() as session:
            found = (
                (await session.execute(select(Cdr).where(Cdr.ocpi_id == row.object_id)))
                .scalars()
                .first()
            )
            if found is None or found.owner_id != party.id:
                return None  # only ever to its owner (the operator's own charges have none)
            if held:
                return found.last_updated
            waiting = (
                await session.execute(
                    select(PendingPush.id).where(
                        PendingPush.party_id == party.id,
                        PendingPush.kind == "session",
                        PendingPush.object_id == found.data.get("session_id"),
                        col(PendingPush.failed).is_(False),
                    )
                )
            ).first()
        if waiting is not None:
            raise Deferred()
        result = await client.call(
            "POST",
            _base(party, "cdrs"),
            peer_of(party),
            json=found.data,
            functional=True,
            module="cdrs",
        )
        async with sessions.begin() as session:
            await session.execute(
                update(Cdr)
                .where(col(Cdr.id) == found.id)
                .values(location_url=result.headers.get("location"))
            )
        return found.last_updated

    async def command(party: Party, row: Claimed, held: bool) -> datetime | None:
        """The CommandResult, to the exact response_url the eMSP gave (on the party's origins:
        the client refuses any other)."""
        async with readers() as session:
            found = await session.get(OcpiCommand, int(row.object_id))
        if found is None or found.result is None:
            return None
        if not held:
            await client.call(
                "POST",
                found.response_url,
                peer_of(party),
                json=result_body(found),
                functional=True,
                module="commands",
            )
        return found.updated_at

    return {
        "location": location,
        "tariff": tariff,
        "session": charging_session,
        "cdr": cdr,
        "command": command,
    }
