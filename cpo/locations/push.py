"""Locations to a party's receiver: a PATCH per changed EVSE status when it holds the Location,
else the whole Location in a PUT, in the party's version (a status PATCH is the same in all)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam
from sqlalchemy import select as select_columns
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.locations.store import EVSES, LOCATION_ROWS, location_object
from cpo.locations.tables import Location, LocationEvse
from cpo.locations.wire import location_out
from cpo.ocpi.client import OcpiClient
from cpo.ocpi.models_v211 import NotIn211
from cpo.ocpi.responses import timestamp
from cpo.our_roles import OurRoles
from cpo.parties import peer_of
from cpo.push.deliverer import Claimed, Sender, Sent
from cpo.push.targets import object_url
from cpo.tables import Party

# More EVSEs changed than this at one Location travel as one PUT of it, not a PATCH each.
PATCHES_BEFORE_PUT = 2

# A Location's owner and its EVSEs' statuses: what a PATCH needs.
_PATCH_COLUMNS = select_columns(
    LOCATION_ROWS.c.country_code,
    LOCATION_ROWS.c.party_id,
    LOCATION_ROWS.c.last_updated,
    EVSES.c.uid,
    EVSES.c.status,
    EVSES.c.admin_status,
    EVSES.c.last_updated.label("evse_updated"),
).outerjoin(EVSES, EVSES.c.location_id == LOCATION_ROWS.c.id)
_PATCH_ROWS = _PATCH_COLUMNS.where(LOCATION_ROWS.c.ocpi_id == bindparam("ocpi_id"))
_AHEAD_ROWS = _PATCH_COLUMNS.add_columns(LOCATION_ROWS.c.ocpi_id.label("location")).where(
    LOCATION_ROWS.c.ocpi_id.in_(bindparam("ocpi_ids", expanding=True))
)


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


async def read_ahead(conn: AsyncConnection, rows: list[Claimed]) -> dict[int, list[Row[Any]]]:
    """What the PATCHes of many claimed rows need, in one query (the deliverer's ReadAhead):
    for each row whose status changes may go by PATCH, its Location's rows (none: it is gone)."""
    wanted = {row.object_id for row in rows if row.scope == "status"}
    if not wanted:
        return {}
    found: dict[str, list[Row[Any]]] = {}
    for r in await conn.execute(_AHEAD_ROWS, {"ocpi_ids": sorted(wanted)}):
        found.setdefault(r.location, []).append(r)
    return {row.id: found.get(row.object_id, []) for row in rows if row.object_id in wanted}


def sender(
    client: OcpiClient, readers: async_sessionmaker[AsyncSession], roles: OurRoles | None = None
) -> Sender:
    """What it sends is read through `readers`; each Location is sent as its owner among
    `roles` (OCPI-from-*), the client's default role when none are given."""

    async def location(party: Party, row: Claimed, held: bool) -> Sent | None:
        rows = row.ahead
        if rows is None:
            async with readers() as session:
                conn = await session.connection()
                rows = (await conn.execute(_PATCH_ROWS, {"ocpi_id": row.object_id})).all()
        if not rows:
            return None
        by_uid = {r.uid: r for r in rows if r.uid is not None}
        patch = (
            row.scope == "status"
            and held
            and len(row.evses) <= PATCHES_BEFORE_PUT
            and all(u in by_uid for u in row.evses)
        )
        whole = None
        if not patch:  # the whole Location
            async with readers() as session:
                whole = await _whole_location(session, row.object_id)
        found = rows[0]
        cc, pid = found.country_code, found.party_id
        if roles is not None:
            cc, pid = roles.in_url(cc, pid, party.speaks)
        keys = (party, "locations", cc, pid)
        url = object_url(*keys, row.object_id)
        peer = peer_of(party)
        owner = roles.role_of(found.country_code, found.party_id) if roles else None
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
                    object_url(*keys, row.object_id, uid),
                    peer,
                    json=body,
                    functional=True,
                    module="locations",
                    sender=owner,
                )
                evses_held[uid] = body["last_updated"]
            return Sent(found.last_updated, evses_held)
        if whole is None:
            return None  # gone meanwhile
        try:
            body = location_out(whole[0], party.speaks)
        except NotIn211:
            return None  # not published, and 2.1.1 cannot say so: it is not sent
        await client.call(
            "PUT", url, peer, json=body, functional=True, module="locations", sender=owner
        )
        # The whole Location holds each EVSE as it was at least when its rows were read.
        held_now = {
            uid: timestamp(evse.evse_updated) for uid, evse in by_uid.items() if evse.evse_updated
        }
        return Sent(whole[1], held_now)

    return location
