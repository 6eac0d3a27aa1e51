"""CDRs to their owner's receiver: POSTed once, after its Session's last update, and never again
once accepted."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.cdrs.tables import Cdr
from cpo.cdrs.wire import cdr_out
from cpo.ocpi.client import OcpiClient
from cpo.ocpi.headers import PartyRef
from cpo.ocpi.models_v211 import NotIn211
from cpo.parties import peer_of
from cpo.push.deliverer import Claimed, Deferred, Sender
from cpo.push.tables import PendingPush
from cpo.push.targets import receiver_url
from cpo.tables import Party

log = logging.getLogger("cpo.cdrs.push")


def sender(
    database: async_sessionmaker[AsyncSession],
    client: OcpiClient,
    readers: async_sessionmaker[AsyncSession],
) -> Sender:
    """What it sends is read through `readers`, what it notes afterwards written through `database`."""

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
            try:
                body = await cdr_out(session, found.data, party.speaks)
            except NotIn211 as e:
                # Settled outside OCPI (ADR 024): the log says which CDR was held back.
                log.warning("CDR %s is not sent to party %s: %s", found.ocpi_id, party.id, e)
                return found.last_updated
        result = await client.call(
            "POST",
            receiver_url(party, "cdrs"),
            peer_of(party),
            json=body,
            functional=True,
            module="cdrs",
            # Its Location owner's, which the CDR names (cpo.sessions.from_transactions).
            sender=PartyRef(found.data["country_code"], found.data["party_id"]),
        )
        async with database.begin() as session:
            await session.execute(
                update(Cdr)
                .where(col(Cdr.id) == found.id)
                .values(location_url=result.headers.get("location"))
            )
        return found.last_updated

    return cdr
