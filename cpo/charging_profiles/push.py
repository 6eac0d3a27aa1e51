"""Charging-profile messages to an eMSP: the result of each request to the response_url it gave,
and the ActiveChargingProfile of a followed session to its chargingprofiles SENDER endpoint."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.charging_profiles.remote import result_body
from cpo.charging_profiles.tables import ChargingProfileRequest, SessionProfile
from cpo.ocpi.client import OcpiClient
from cpo.ocpi.urls import join, segment
from cpo.parties import peer_of
from cpo.push.deliverer import Claimed, Sender
from cpo.tables import Party


def result_sender(client: OcpiClient, readers: async_sessionmaker[AsyncSession]) -> Sender:
    """What it sends is read through `readers`."""

    async def result(party: Party, row: Claimed, held: bool) -> datetime | None:
        """The result, to the exact response_url the eMSP gave (on the party's origins: the
        client refuses any other)."""
        async with readers() as session:
            found = await session.get(ChargingProfileRequest, int(row.object_id))
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
            )
        return found.updated_at

    return result


def active_sender(client: OcpiClient, readers: async_sessionmaker[AsyncSession]) -> Sender:
    """What it sends is read through `readers`."""

    async def active(party: Party, row: Claimed, held: bool) -> datetime | None:
        """PUT {endpoint}/{session_id}: the ActiveChargingProfile as last read from the charger
        (a newer one read while this waited travels instead: the outbox coalesces)."""
        endpoint = party.endpoint("chargingprofiles", "SENDER")
        async with readers() as session:
            found = await session.get(SessionProfile, int(row.object_id))
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
        )
        return found.active_at

    return active
