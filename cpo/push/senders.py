"""How each kind of object reaches a party's receiver: each module's push sender, by kind."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.cdrs import push as cdrs
from cpo.charging_profiles import push as charging_profiles
from cpo.commands import push as commands
from cpo.locations import push as locations
from cpo.ocpi.client import OcpiClient
from cpo.our_roles import OurRoles
from cpo.push.deliverer import ReadAhead, Sender
from cpo.sessions import push as sessions
from cpo.tariffs import push as tariffs


def senders(
    database: async_sessionmaker[AsyncSession],
    client: OcpiClient,
    readers: async_sessionmaker[AsyncSession] | None = None,
    roles: OurRoles | None = None,
) -> dict[str, Sender]:
    """The senders of each kind. What they send is read through `readers` (connections that
    only read, when there are any), what they note afterwards written through `database`.
    `roles`: ours, which a Location or Tariff is sent as (its own; the client's default when
    not given)."""
    readers = readers or database
    return {
        "location": locations.sender(client, readers, roles),
        "tariff": tariffs.sender(client, readers, roles),
        "session": sessions.sender(database, client, readers, roles),
        "cdr": cdrs.sender(database, client, readers),
        "command": commands.sender(client, readers, roles),
        "profile_result": charging_profiles.result_sender(client, readers, roles),
        "active_profile": charging_profiles.active_sender(client, readers, roles),
    }


def read_ahead() -> dict[str, ReadAhead]:
    """The kinds whose senders take what they send from the round that claimed the rows."""
    return {"location": locations.read_ahead}
