"""Sessions to their owner's receiver: PUT the first time and after any doubt, then PATCH with
only the periods closed since."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.locations.store import location_at
from cpo.ocpi.client import OcpiClient
from cpo.ocpi.headers import PartyRef
from cpo.ocpi.models import VersionNumber
from cpo.our_roles import OurRoles
from cpo.parties import peer_of
from cpo.push.deliverer import Claimed, Sender
from cpo.push.targets import object_url
from cpo.sessions.from_transactions import periods_digest
from cpo.sessions.tables import ChargingSession
from cpo.sessions.wire import session_out
from cpo.tables import Party

# Fields of a Session that a PATCH leaves out: its identity, and the periods it appends.
SESSION_KEYS = {"country_code", "party_id", "id", "charging_periods"}


def sender(
    database: async_sessionmaker[AsyncSession],
    client: OcpiClient,
    readers: async_sessionmaker[AsyncSession],
    roles: OurRoles | None = None,
) -> Sender:
    """What it sends is read through `readers`, what it notes afterwards written through
    `database`. `roles`: ours, which place a Session at a 2.1.1 peer (OurRoles.in_url)."""

    async def charging_session(party: Party, row: Claimed, held: bool) -> datetime | None:
        """PUT the first time and after any doubt; then PATCH, appending only closed periods."""
        if party.endpoint("sessions", "RECEIVER") is None:
            return None  # the party pulls sessions instead (GET /sessions)
        version = party.speaks
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
            # 2.1.1 embeds the Location in each Session, and leaves a PATCH of its periods
            # unsaid: it gets the whole Session every time.
            whole_only = version == VersionNumber.V2_1_1
            at = await location_at(session, found.location["id"]) if whole_only else None
        data, closed = found.data, found.closed_periods
        periods = data["charging_periods"]
        cc, pid = data["country_code"], data["party_id"]
        if roles is not None:
            cc, pid = roles.in_url(cc, pid, version)
        url = object_url(party, "sessions", cc, pid, data["id"])
        peer = peer_of(party)
        # Its Location owner's, which the Session names (cpo.sessions.from_transactions).
        owner = PartyRef(data["country_code"], data["party_id"])
        holds_ours = (
            held
            and not whole_only
            and row.scope != "full"
            and found.pushed_periods <= closed
            and found.pushed_digest == periods_digest(periods[: found.pushed_periods])
        )
        if holds_ours:
            body = {k: v for k, v in data.items() if k not in SESSION_KEYS}
            if fresh := periods[found.pushed_periods : closed]:
                body["charging_periods"] = fresh
            body = session_out(body, version)
            await client.call(
                "PATCH", url, peer, json=body, functional=True, module="sessions", sender=owner
            )
        else:
            whole = data | {"charging_periods": periods[:closed]}
            body = session_out(whole, version, at, found.location)
            await client.call(
                "PUT", url, peer, json=body, functional=True, module="sessions", sender=owner
            )
        async with database.begin() as session:
            await session.execute(
                update(ChargingSession)
                .where(col(ChargingSession.id) == found.id)
                .values(pushed_periods=closed, pushed_digest=periods_digest(periods[:closed]))
            )
        return found.last_updated

    return charging_session
