"""Tariffs: the operator's prices as OCPI objects; a change is marked for every party with a
receiver, in its own transaction."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo import locks
from cpo.locks import Lock
from cpo.ocpi.responses import timestamp
from cpo.operator_input import Invalid, Upserted, parse
from cpo.our_roles import NotOurs, OurRoles
from cpo.push.outbox import Outbox
from cpo.tariffs.tables import Tariff
from cpo.tariffs.v221 import TariffIn
from csms import clock

TARIFF_OWN = {"id", "country_code", "party_id", "last_updated"}
TARIFFS: TypeAdapter[list[TariffIn]] = TypeAdapter(list[TariffIn])


def tariff_object(tariff: Tariff) -> dict[str, Any]:
    return (
        {"country_code": tariff.country_code, "party_id": tariff.party_id, "id": tariff.ocpi_id}
        | tariff.data
        | {"last_updated": timestamp(tariff.last_updated)}
    )


class Tariffs:
    def __init__(
        self, database: async_sessionmaker[AsyncSession], outbox: Outbox, roles: OurRoles
    ) -> None:
        self.database = database
        self.outbox = outbox
        self.roles = roles  # each Tariff is one's; the default's where it names none

    async def upsert(self, raw: Any) -> list[Upserted]:
        """Creates or updates Tariffs (one object or a list): all of them, or none."""
        items: list[TariffIn] = parse(TARIFFS, raw if isinstance(raw, list) else [raw])
        owners, problems = [], []
        for n, item in enumerate(items):
            try:
                owners.append(self.roles.owner(item.country_code, item.party_id))
            except NotOurs as e:
                prefix = f"{n}." if isinstance(raw, list) else ""
                problems.append({"field": f"{prefix}party_id", "problem": str(e)})
        if problems:
            raise Invalid(problems)
        done = []
        now = clock.now()
        async with self.database.begin() as session:
            await locks.hold(session, Lock.CATALOGUE)
            parties = await self.outbox.receivers(session, "tariffs")
            for item, owner in zip(items, owners, strict=True):
                data = item.model_dump(mode="json", exclude_none=True, exclude=TARIFF_OWN)
                cc, pid = owner.country_code, owner.party_id
                tariff = (
                    (await session.execute(select(Tariff).where(Tariff.ocpi_id == item.id)))
                    .scalars()
                    .first()
                )
                created = tariff is None
                if tariff is None:
                    tariff = Tariff(
                        ocpi_id=item.id, country_code=cc, party_id=pid, data=data, last_updated=now
                    )
                    session.add(tariff)
                    changed = True
                else:
                    changed = (
                        tariff.data,
                        tariff.deleted,
                        tariff.country_code,
                        tariff.party_id,
                    ) != (data, False, cc, pid)
                    if changed:
                        tariff.data, tariff.deleted, tariff.last_updated = data, False, now
                        tariff.country_code, tariff.party_id = cc, pid
                if changed:
                    await self.outbox.mark(session, parties, "tariff", item.id)
                done.append(Upserted(item.id, created, changed))
        self.outbox.wake()
        return done

    async def delete(self, ocpi_id: str) -> bool:
        async with self.database.begin() as session:
            await locks.hold(session, Lock.CATALOGUE)
            tariff = (
                (
                    await session.execute(
                        select(Tariff).where(
                            Tariff.ocpi_id == ocpi_id, col(Tariff.deleted).is_(False)
                        )
                    )
                )
                .scalars()
                .first()
            )
            if tariff is None:
                return False
            tariff.deleted, tariff.last_updated = True, clock.now()
            await self.outbox.mark(
                session, await self.outbox.receivers(session, "tariffs"), "tariff", ocpi_id
            )
        self.outbox.wake()
        return True
