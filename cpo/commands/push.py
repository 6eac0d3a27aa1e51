"""CommandResults to the response_url the eMSP gave with its command."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.commands import v211
from cpo.commands.remote import result_body
from cpo.commands.tables import OcpiCommand
from cpo.ocpi.client import OcpiClient
from cpo.ocpi.headers import PartyRef
from cpo.ocpi.models import VersionNumber
from cpo.our_roles import OurRoles
from cpo.parties import peer_of
from cpo.push.deliverer import Claimed, Sender
from cpo.tables import Party


def sender(
    client: OcpiClient, readers: async_sessionmaker[AsyncSession], roles: OurRoles | None = None
) -> Sender:
    """What it sends is read through `readers`; each result is from the role among `roles`
    owning the Location the command addressed (the client's default role when unknown)."""

    async def command(party: Party, row: Claimed, held: bool) -> datetime | None:
        """The CommandResult, to the exact response_url the eMSP gave (on the party's origins:
        the client refuses any other)."""
        async with readers() as session:
            found = await session.get(OcpiCommand, int(row.object_id))
        if found is None or found.result is None:
            return None
        if not held:
            body = result_body(found)
            owner: PartyRef | None = None
            if roles is not None and found.from_country_code and found.from_party_id:
                owner = roles.role_of(found.from_country_code, found.from_party_id)
            await client.call(
                "POST",
                found.response_url,
                peer_of(party),
                json=v211.result_out(body) if party.speaks == VersionNumber.V2_1_1 else body,
                functional=True,
                module="commands",
                sender=owner,
            )
        return found.updated_at

    return command
