"""HubClientInfo, RECEIVER: a hub tells us of the parties it relays for; and its list, pulled.

Configuration, not functional: no routing headers (the hub speaks for itself). Only a hub may
call it; a party it names becomes (or updates) a client (cpo.hubs.clients).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import Response

from cpo.hubs import clients
from cpo.hubs.wire import ClientInfo, ConnectionStatus
from cpo.ocpi.client import OcpiClient
from cpo.ocpi.headers import PartyRef
from cpo.ocpi.models import VersionNumber
from cpo.ocpi.responses import OcpiResponse, timestamp
from cpo.ocpi.router import Call, Module
from cpo.ocpi.status import OcpiError, Status, invalid, not_found
from cpo.parties import NotRegistered, client_in, hold_registered, peer_of
from cpo.tables import Party

log = logging.getLogger("cpo.hubs")

SERVED = frozenset({VersionNumber.V2_2_1, VersionNumber.V2_3_0})


def module(
    database: async_sessionmaker[AsyncSession], connected: Callable[[list[int]], None]
) -> Module:
    """`connected` hears of the clients that became CONNECTED (after the commit): what waited
    for them in the outbox may go."""
    info = Module("hubclientinfo", "RECEIVER", functional=False, versions=SERVED)
    path = "/{country_code}/{party_id}"

    def named(call: Call) -> PartyRef:
        if call.party.hub_party is None:
            raise OcpiError(
                Status.CLIENT_ERROR,
                "only a hub reports on the parties it relays for (HubClientInfo)",
                http=403,
            )
        p = call.request.path_params
        if len(p["country_code"]) != 2 or len(p["party_id"]) != 3:
            raise invalid("the URL names a country_code of 2 and a party_id of 3 characters", 400)
        return PartyRef(p["country_code"].upper(), p["party_id"].upper())

    @info.on("PUT", path)
    async def put(call: Call) -> Response:
        ref = named(call)
        given = call.json(ClientInfo)
        if not ref.same(PartyRef(given.country_code, given.party_id)):
            raise invalid(
                f"the URL names {ref}, the ClientInfo {given.country_code}/{given.party_id}"
            )
        assert call.party.id is not None
        async with database.begin() as session:
            hub = await hold_registered(session, call.party.id)
            if hub is None:
                raise NotRegistered(call.party.id)
            client, now_connected = await clients.keep(
                session, hub, ref, given.role.value, given.status, given.last_updated
            )
        log.info("hub %s: %s is %s", hub.hub_party, ref, given.status.value)
        if now_connected and client.id is not None:
            connected([client.id])
        return OcpiResponse()

    @info.on("GET", path)
    async def get(call: Call) -> Response:
        ref = named(call)
        assert call.party.id is not None
        async with database() as session:
            client = await client_in(session, call.party.id, ref)
        if client is None:
            raise not_found(f"no party {ref} behind this hub is known here")
        return OcpiResponse(info_of(client))

    return info


def info_of(client: Party) -> dict[str, object]:
    """A client as ClientInfo, as the hub last reported it."""
    role = client.roles[0]
    return {
        "party_id": role["party_id"],
        "country_code": role["country_code"],
        "role": role["role"],
        "status": client.client_status or ConnectionStatus.PLANNED,
        "last_updated": timestamp(client.client_updated or client.updated_at),
    }


async def pull(
    database: async_sessionmaker[AsyncSession], client: OcpiClient, hub: Party
) -> dict[str, int]:
    """The hub's whole list of the parties it relays for (its HubClientInfo Sender, meant for
    start-up and doubt), each kept as a client; items that do not fit are skipped, counted."""
    url = hub.endpoint("hubclientinfo", "SENDER") or hub.endpoint("hubclientinfo")
    kept = skipped = 0
    woken: list[int] = []
    if url is None or hub.hub_party is None:
        return {"kept": 0, "skipped": 0, "connected": 0}
    assert hub.id is not None
    async for page in client.pages(url, peer_of(hub), functional=False, module="hubclientinfo"):
        infos: list[ClientInfo] = []
        for raw in page:
            try:
                infos.append(ClientInfo.model_validate(raw))
            except ValidationError:
                skipped += 1
        async with database.begin() as session:
            held = await hold_registered(session, hub.id)
            if held is None:
                raise NotRegistered(hub.id)
            for given in infos:
                ref = PartyRef(given.country_code.upper(), given.party_id.upper())
                found, now_connected = await clients.keep(
                    session, held, ref, given.role.value, given.status, given.last_updated
                )
                if now_connected and found.id is not None:
                    woken.append(found.id)
            kept += len(infos)
    return {"kept": kept, "skipped": skipped, "connected": len(woken)}
