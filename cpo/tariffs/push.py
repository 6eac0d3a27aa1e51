"""Tariffs to a party's receiver: PUT while it exists, DELETE once deleted (only to a party that
holds it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select

from cpo.ocpi.client import OcpiClient
from cpo.ocpi.models_v211 import NotIn211
from cpo.our_roles import OurRoles
from cpo.parties import peer_of
from cpo.push.deliverer import Claimed, Sender
from cpo.push.targets import object_url
from cpo.tables import Party
from cpo.tariffs.store import tariff_object
from cpo.tariffs.tables import Tariff
from cpo.tariffs.wire import tariff_out


def sender(
    client: OcpiClient, readers: async_sessionmaker[AsyncSession], roles: OurRoles | None = None
) -> Sender:
    """What it sends is read through `readers`; each Tariff is sent as its owner among `roles`
    (OCPI-from-*), the client's default role when none are given."""

    async def tariff(party: Party, row: Claimed, held: bool) -> datetime | None:
        async with readers() as session:
            found = (
                (await session.execute(select(Tariff).where(Tariff.ocpi_id == row.object_id)))
                .scalars()
                .first()
            )
        if found is None:
            return None
        cc, pid = found.country_code, found.party_id
        if roles is not None:
            cc, pid = roles.in_url(cc, pid, party.speaks)
        url = object_url(party, "tariffs", cc, pid, found.ocpi_id)
        peer = peer_of(party)
        owner = roles.role_of(found.country_code, found.party_id) if roles else None
        try:
            body = None if found.deleted else tariff_out(tariff_object(found), party.speaks)
        except NotIn211:
            body = None  # the party's version cannot express it: as good as deleted for it
        if body is None:
            if not held:
                return None  # the party never had it
            await client.call("DELETE", url, peer, functional=True, module="tariffs", sender=owner)
        else:
            await client.call(
                "PUT", url, peer, json=body, functional=True, module="tariffs", sender=owner
            )
        return found.last_updated

    return tariff
