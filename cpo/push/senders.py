"""How each kind of object reaches a party's receiver: PUT, PATCH or DELETE on the spec's URLs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select

from cpo.models import Delivered, Location, Party, PendingPush, Tariff
from cpo.ocpi.client import OcpiCallError, OcpiClient
from cpo.ocpi.responses import timestamp
from cpo.parties import peer_of
from cpo.push.deliverer import Sender
from cpo.sites import Sites, location_object, tariff_object


def _base(party: Party, module: str) -> str:
    url = party.endpoint(module, "RECEIVER")
    if url is None:
        raise OcpiCallError(f"party {party.id} lists no {module} RECEIVER any more", "", None, 2000)
    return url.rstrip("/")


def senders(sessions: async_sessionmaker[AsyncSession], client: OcpiClient) -> dict[str, Sender]:
    async def location(party: Party, row: PendingPush, held: Delivered | None) -> datetime | None:
        async with sessions() as session:
            found = (
                (await session.execute(select(Location).where(Location.ocpi_id == row.object_id)))
                .scalars()
                .first()
            )
            if found is None:
                return None
            assert found.id is not None
            evses = (await Sites.evses_of(session, [found.id]))[found.id]
        url = f"{_base(party, 'locations')}/{found.country_code}/{found.party_id}/{found.ocpi_id}"
        peer = peer_of(party)
        by_uid = {e.uid: e for e in evses}
        if row.scope == "status" and held is not None and all(u in by_uid for u in row.evses):
            # The party holds the location: only the statuses that changed travel.
            for uid in row.evses:
                evse = by_uid[uid]
                body = {
                    "status": evse.admin_status or evse.status,
                    "last_updated": timestamp(evse.last_updated),
                }
                await client.call(
                    "PATCH", f"{url}/{uid}", peer, json=body, functional=True, module="locations"
                )
        else:
            body = location_object(found, evses)
            await client.call("PUT", url, peer, json=body, functional=True, module="locations")
        return found.last_updated

    async def tariff(party: Party, row: PendingPush, held: Delivered | None) -> datetime | None:
        async with sessions() as session:
            found = (
                (await session.execute(select(Tariff).where(Tariff.ocpi_id == row.object_id)))
                .scalars()
                .first()
            )
        if found is None:
            return None
        url = f"{_base(party, 'tariffs')}/{found.country_code}/{found.party_id}/{found.ocpi_id}"
        peer = peer_of(party)
        if found.deleted:
            if held is None:
                return None  # the party never had it
            await client.call("DELETE", url, peer, functional=True, module="tariffs")
        else:
            body = tariff_object(found)
            await client.call("PUT", url, peer, json=body, functional=True, module="tariffs")
        return found.last_updated

    return {"location": location, "tariff": tariff}
