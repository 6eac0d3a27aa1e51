"""Charging-profile messages to an eMSP: the result of each request to the response_url it gave,
and the ActiveChargingProfile of a followed session to its chargingprofiles SENDER endpoint."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.charging_profiles.remote import result_body
from cpo.charging_profiles.tables import ChargingProfileRequest, SessionProfile
from cpo.ocpi.client import OcpiClient
from cpo.ocpi.headers import PartyRef
from cpo.ocpi.urls import join, segment
from cpo.our_roles import OurRoles
from cpo.parties import peer_of
from cpo.push.deliverer import Claimed, Sender
from cpo.sessions.tables import ChargingSession
from cpo.tables import Party


async def _speaking(
    session: AsyncSession, session_id: int, roles: OurRoles | None
) -> PartyRef | None:
    """Our role that speaks of a Session: the one its Location belongs to (None: the default)."""
    found = await session.get(ChargingSession, session_id)
    if roles is None or found is None:
        return None
    return roles.role_of(
        str(found.data.get("country_code", "")), str(found.data.get("party_id", ""))
    )


def result_sender(
    client: OcpiClient, readers: async_sessionmaker[AsyncSession], roles: OurRoles | None = None
) -> Sender:
    """What it sends is read through `readers`; from our role owning the session's Location."""

    async def result(party: Party, row: Claimed, held: bool) -> datetime | None:
        """The result, to the exact response_url the eMSP gave (on the party's origins: the
        client refuses any other)."""
        async with readers() as session:
            found = await session.get(ChargingProfileRequest, int(row.object_id))
            speaking = await _speaking(session, found.session_id, roles) if found else None
        if found is None or found.result is None or found.party_id != party.id:
            return None
        if not held:
            await client.call(
                "POST",
                found.response_url,
                peer_of(party),
                json=result_body(found),
                functional=True,
                module="chargingprofiles",
                sender=speaking,
            )
        return found.updated_at

    return result


def active_sender(
    client: OcpiClient, readers: async_sessionmaker[AsyncSession], roles: OurRoles | None = None
) -> Sender:
    """What it sends is read through `readers`; from our role owning the session's Location."""

    async def active(party: Party, row: Claimed, held: bool) -> datetime | None:
        """PUT {endpoint}/{session_id}: the ActiveChargingProfile as last read from the charger
        (a newer one read while this waited travels instead: the outbox coalesces)."""
        endpoint = party.endpoint("chargingprofiles", "SENDER")
        async with readers() as session:
            found = await session.get(SessionProfile, int(row.object_id))
            speaking = await _speaking(session, found.session_id, roles) if found else None
        if (
            endpoint is None
            or found is None
            or found.active is None
            or found.active_at is None
            or found.party_id != party.id
        ):
            return None
        url = join(endpoint, segment(found.ocpi_session_id))
        await client.call(
            "PUT",
            url,
            peer_of(party),
            json=found.active,
            functional=True,
            module="chargingprofiles",
            sender=speaking,
        )
        return found.active_at

    return active
