"""Resync: every Location and Tariff marked for a party again, or only those it does not hold
current (what a party missed, or asked for anew)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select

from cpo.locations.tables import Location
from cpo.push.outbox import Outbox
from cpo.push.tables import Delivered
from cpo.tariffs.tables import Tariff


async def resync(
    database: async_sessionmaker[AsyncSession],
    outbox: Outbox,
    party_id: int,
    only_stale: bool = False,
) -> int:
    """Marks every location and tariff for a party (or only those it does not hold current)."""
    count = 0
    async with database.begin() as session:
        held = {
            (d.kind, d.object_id): d.last_updated
            for d in (
                await session.execute(select(Delivered).where(Delivered.party_id == party_id))
            ).scalars()
        }
        objects: list[tuple[str, str, datetime]] = [
            ("location", loc.ocpi_id, loc.last_updated)
            for loc in (await session.execute(select(Location))).scalars()
        ] + [
            ("tariff", t.ocpi_id, t.last_updated)
            for t in (await session.execute(select(Tariff))).scalars()
            # A deleted tariff matters only to a party that holds it.
            if not t.deleted or ("tariff", t.ocpi_id) in held
        ]
        due: dict[str, list[str]] = {"location": [], "tariff": []}
        for kind, object_id, last_updated in objects:
            if (
                only_stale
                and (
                    held.get((kind, object_id)) or datetime.min.replace(tzinfo=last_updated.tzinfo)
                )
                >= last_updated
            ):
                continue
            due[kind].append(object_id)
            count += 1
        for kind, ids in due.items():
            await outbox.mark_each(session, [party_id], kind, dict.fromkeys(ids, ()))
    outbox.wake()
    return count
