"""The parties behind a hub ("clients"), one Party row each.

A hub is one platform with one token and one set of endpoints, relaying for many parties. Each
party it relays for is a Party of its own (`hub_id` set): tokens, Sessions, CDRs, commands and
outbox rows belong to it exactly as to a direct peer, so isolation between two eMSPs behind one
hub is the isolation between two peers. It holds no token and no endpoints: it calls us through
the hub (cpo.ocpi.router attributes the request by its OCPI-from-* headers), and we call it
through the hub's endpoints with OCPI-to-* naming it (`through`).

What the hub says of each (HubClientInfo; in 2.3.0 also the roles of its credentials) is kept
on the row: only a CONNECTED client is sent anything; what it is owed meanwhile waits in the
outbox (ADR 031).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from cpo import locks
from cpo.credentials.v221 import Credentials
from cpo.hubs.wire import ConnectionStatus
from cpo.ocpi.headers import PartyRef
from cpo.ocpi.models import Role
from cpo.parties import LIVE, client_in, party_label
from cpo.tables import Party, PartyState
from csms import clock

# What a hub's own roles are kept as: 2.3.0 has no HUB role, but a hub is one all the same.
HUB = "HUB"


def hub_roles(creds: Credentials) -> tuple[list[dict[str, Any]], str | None, list[dict[str, Any]]]:
    """A peer's credentials as kept: (its own roles, its hub party id if it is a hub, the roles
    of the parties it says it relays for). A 2.2.1 hub names only its HUB role (its clients come
    by HubClientInfo); a 2.3.0 hub gives `hub_party_id` and lists every reachable party."""
    roles = [r.wire() for r in creds.roles]
    hub_role = next((r for r in creds.roles if r.role == Role.HUB), None)
    hub_party_id: str | None = getattr(creds, "hub_party_id", None)
    if hub_role is None and hub_party_id is None:
        return roles, None, []
    code = (
        (hub_role.country_code + hub_role.party_id) if hub_role is not None else str(hub_party_id)
    ).upper()
    details = (hub_role or creds.roles[0]).business_details.wire()
    own = {"role": HUB, "country_code": code[:2], "party_id": code[2:], "business_details": details}
    relayed = [
        r
        for r in roles
        if r["role"] != HUB and (str(r["country_code"]) + str(r["party_id"])).upper() != code
    ]
    return [own], code, relayed


def through(client: Party, hub: Party) -> Party:
    """The client as it is called: at the hub's endpoints, with the hub's token and version,
    its own role naming it in OCPI-to-*."""
    return Party(
        **(
            client.model_dump()
            | dict(
                endpoints=hub.endpoints,
                outgoing_token=hub.outgoing_token,
                versions_url=hub.versions_url,
                allowed_origins=hub.allowed_origins,
                version=hub.version,
                token_encoding=hub.token_encoding,
            )
        )
    )


def sendable(client: Party, hub: Party | None) -> bool:
    """Whether anything may go to the client now: its hub and it registered, and the hub says
    it is CONNECTED."""
    return (
        hub is not None
        and hub.state == PartyState.REGISTERED
        and client.state == PartyState.REGISTERED
        and client.client_status == ConnectionStatus.CONNECTED
    )


async def called_as(session: AsyncSession, party: Party) -> Party:
    """`party` as it is called, whether or not it may be now: a client through its hub."""
    hub = await session.get(Party, party.hub_id) if party.hub_id is not None else None
    return through(party, hub) if hub is not None else party


async def reach(session: AsyncSession, party: Party) -> Party | None:
    """How to call `party`: itself, or (a client) through its hub; None while it may not be."""
    if party.hub_id is None:
        return party
    hub = await session.get(Party, party.hub_id)
    return through(party, hub) if hub is not None and sendable(party, hub) else None


async def keep(
    session: AsyncSession,
    hub: Party,
    ref: PartyRef,
    role: str,
    status: ConnectionStatus,
    updated: datetime | None = None,
) -> tuple[Party, bool]:
    """Records what the hub says of one party behind it: the client (created on first word)
    and whether it just became CONNECTED (what waited for it may go). An older word than the
    one kept changes nothing.

    The roles lock (the one registrations take) makes the look-up and the insert one step on
    PostgreSQL: two words about a new party at once make one client. A party that a direct
    peer already registered starts SUSPENDED: it is reached directly until the operator
    chooses the hub (resume it, suspend the direct one).
    """
    assert hub.id is not None
    await locks.hold(session, locks.Lock.ROLES)
    found = await client_in(session, hub.id, ref)
    now = clock.now()
    if found is not None:
        if updated is not None and found.client_updated is not None:
            if updated < found.client_updated:
                return found, False
        was = found.client_status
        if not any(str(r.get("role")) == role for r in found.roles):
            found.roles = [*found.roles, _role(ref, role)]
        found.client_status, found.client_updated = status, updated or now
        found.version, found.updated_at = hub.version, now
        if found.state == PartyState.UNREGISTERED and hub.state == PartyState.REGISTERED:
            found.state = PartyState.REGISTERED  # the hub came back with it
        session.add(found)
        await session.flush()
        return found, was != ConnectionStatus.CONNECTED and status == ConnectionStatus.CONNECTED
    direct = await _direct_holder(session, ref)
    client = Party(
        name=f"{ref} via {party_label(hub)}"[:100],
        state=PartyState.SUSPENDED if direct else PartyState.REGISTERED,
        roles=[_role(ref, role)],
        hub_id=hub.id,
        client_status=status,
        client_updated=updated or now,
        version=hub.version,
        incoming_token_hash=None,
        outgoing_token=None,
        registered_at=now,
    )
    session.add(client)
    await session.flush()
    return client, status == ConnectionStatus.CONNECTED


async def keep_roles(session: AsyncSession, hub: Party, roles: list[dict[str, Any]]) -> list[int]:
    """A 2.3.0 hub's reachable parties (its credentials' roles) as clients; those already
    known keep the status ClientInfo gave them. The ids of clients that became CONNECTED."""
    assert hub.id is not None
    woken: list[int] = []
    for r in roles:
        ref = PartyRef(str(r["country_code"]).upper(), str(r["party_id"]).upper())
        known = await client_in(session, hub.id, ref)
        status = (
            ConnectionStatus(known.client_status)
            if known is not None and known.client_status
            else ConnectionStatus.CONNECTED
        )
        client, connected = await keep(
            session, hub, ref, str(r["role"]), status, known.client_updated if known else None
        )
        if connected and client.id is not None:
            woken.append(client.id)
    return woken


def _role(ref: PartyRef, role: str) -> dict[str, Any]:
    return {
        "role": role,
        "country_code": ref.country_code.upper(),
        "party_id": ref.party_id.upper(),
    }


async def _direct_holder(session: AsyncSession, ref: PartyRef) -> Party | None:
    rows = await session.execute(
        select(Party).where(col(Party.state).in_(list(LIVE)), col(Party.hub_id).is_(None))
    )
    for party in rows.scalars():
        if party.hub_party is None and party.has_role(ref.country_code, ref.party_id):
            return party
    return None
