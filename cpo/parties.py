"""The parties: every OCPI peer, found by the token it presents, with its state and endpoints."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo import locks
from cpo.ocpi.client import Peer
from cpo.ocpi.headers import PartyRef
from cpo.ocpi.models import VersionNumber
from cpo.ocpi.tokens import Encoding, new_token, presented, token_hash
from cpo.operator_input import Conflict
from cpo.tables import Party, PartyState
from csms import clock

LIVE = (PartyState.REGISTERED, PartyState.SUSPENDED, PartyState.REGISTERING)
# A party that holds credentials both ways: its tokens are kept and it may be operated on.
HOLDING = (PartyState.REGISTERED, PartyState.SUSPENDED)


def role_key(role: dict[str, Any]) -> tuple[str, str, str]:
    """A role as (role, COUNTRY, PARTY): country codes and party ids compare case-blind."""
    return str(role["role"]), str(role["country_code"]).upper(), str(role["party_id"]).upper()


class RolesTaken(Exception):
    """Another live party registered one of the roles first."""

    def __init__(self, holder_id: int) -> None:
        super().__init__(f"held by party #{holder_id}")
        self.holder_id = holder_id


class NotRegistered(Conflict):
    """The party is unknown, or its registration ended (or never finished)."""

    def __init__(self, party_id: int | str, state: str | None = None) -> None:
        super().__init__(
            f"party {party_id} is not registered" + (f" (it is {state})" if state else "")
        )
        self.party_id, self.state = party_id, state


async def hold_registered(session: AsyncSession, party_id: int) -> Party | None:
    """The party if it still holds a registration, read under a share lock held to the end of
    the transaction: an unregistration (an UPDATE of the same row) waits for this transaction,
    or this one sees the party gone. None when it is not registered."""
    rows = await session.execute(
        select(Party)
        .where(col(Party.id) == party_id, col(Party.state).in_(list(HOLDING)))
        .with_for_update(read=True)
    )
    return rows.scalars().first()


@dataclass(frozen=True)
class Caller:
    """A party that authenticated, with the token it presented and how it encoded it."""

    party: Party
    token: str
    encoding: Encoding


class Parties:
    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        reads: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        """`reads`: sessions for what only reads (every request's authentication)."""
        self.database = database
        self.reads = reads or database

    async def authenticate(
        self, header: str | None, version: VersionNumber | None = None
    ) -> Caller | None:
        """The party whose incoming token the header carries (Base64, or raw where allowed:
        for a party set up for raw tokens, and in OCPI 2.1.1, the party's or the one called)."""
        candidates = presented(header)
        if not candidates:
            return None
        hashes = {token_hash(token): (token, encoding) for token, encoding in candidates}
        async with self.reads() as session:
            rows = await session.execute(
                select(Party).where(col(Party.incoming_token_hash).in_(list(hashes)))
            )
            party = rows.scalars().first()
        if party is None or party.incoming_token_hash is None:
            return None
        token, encoding = hashes[party.incoming_token_hash]
        if not hmac.compare_digest(token_hash(token), party.incoming_token_hash):
            return None
        # A raw token is a peer quirk we accept when the party is set up for it, and learn
        # while it registers (its first call tells us how it sends tokens).
        learning = party.state in (PartyState.INVITED, PartyState.REGISTERING)
        expected = party.token_encoding == "raw" or VersionNumber.V2_1_1 in (party.speaks, version)
        if encoding == "raw" and not expected and not learning:
            return None
        return Caller(party, token, encoding)

    async def client_of(self, hub_id: int, ref: PartyRef) -> Party | None:
        """The party behind hub `hub_id` with this country code and party id."""
        async with self.reads() as session:
            return await client_in(session, hub_id, ref)

    async def get(self, party_id: int) -> Party | None:
        async with self.database() as session:
            return await session.get(Party, party_id)

    async def all(self) -> list[Party]:
        async with self.database() as session:
            return list((await session.execute(select(Party).order_by(col(Party.id)))).scalars())

    async def invite(self, name: str = "", encoding: Encoding = "base64") -> tuple[Party, str]:
        """A new invitation: the party row that token A will register, and token A itself."""
        token_a = new_token()
        party = Party(
            name=name,
            state=PartyState.INVITED,
            incoming_token_hash=token_hash(token_a),
            token_encoding=encoding,
        )
        async with self.database.begin() as session:
            session.add(party)
        return party, token_a

    async def holder_of(self, roles: list[dict[str, Any]], other_than: int | None) -> Party | None:
        """A live party other than `other_than` that already registered one of these roles."""
        async with self.database() as session:
            return await self._holder_in(session, roles, other_than)

    @staticmethod
    async def _holder_in(
        session: AsyncSession, roles: list[dict[str, Any]], other_than: int | None
    ) -> Party | None:
        wanted = {role_key(r) for r in roles}
        rows = await session.execute(select(Party).where(col(Party.state).in_(list(LIVE))))
        for party in rows.scalars():
            if party.hub_id is not None:
                continue  # behind a hub: reached through it, it takes no role from a peer
            if party.id != other_than and wanted & {role_key(r) for r in party.roles}:
                return party
        return None

    async def swap_registering(
        self, party_id: int, expected_hash: str | None, roles: list[dict[str, Any]], **changes: Any
    ) -> bool:
        """`swap` that also gives the party `roles`, if no other live party holds one of them:
        the check and the write are one transaction, and on PostgreSQL two of them take turns
        (an advisory lock), so two registrations of the same roles cannot both win (ADR 016).
        Raises RolesTaken."""
        async with self.database.begin() as session:
            await locks.hold(session, locks.Lock.ROLES)
            holder = await self._holder_in(session, roles, party_id)
            if holder is not None:
                assert holder.id is not None
                raise RolesTaken(holder.id)  # the id: the rollback expires the row
            return await self.swap_in(session, party_id, expected_hash, roles=roles, **changes)

    async def set_state(
        self, party_id: int, state: PartyState, *, only_from: tuple[str, ...]
    ) -> Party | None:
        """Moves the party to `state` if it is in one of `only_from` (one conditional UPDATE,
        so a concurrent unregistration is never overwritten); the party as it is after."""
        async with self.database.begin() as session:
            await session.execute(
                update(Party)
                .where(col(Party.id) == party_id, col(Party.state).in_(list(only_from)))
                .values(state=state, updated_at=clock.now())
            )
        return await self.get(party_id)

    async def swap(self, party_id: int, expected_hash: str | None, **changes: Any) -> bool:
        """Changes a party only if its incoming token is still `expected_hash` (one winner)."""
        async with self.database.begin() as session:
            return await self.swap_in(session, party_id, expected_hash, **changes)

    @staticmethod
    async def swap_in(
        session: AsyncSession, party_id: int, expected: str | None | PartyState, **changes: Any
    ) -> bool:
        """`swap` within a transaction. `expected` is the incoming token's hash, or a state
        the party must not be in (e.g. UNREGISTERED: any live party)."""
        condition = (
            col(Party.state) != expected
            if isinstance(expected, PartyState)
            else col(Party.incoming_token_hash) == expected
        )
        result = await session.execute(
            update(Party)
            .where(col(Party.id) == party_id, condition)
            .values(**changes, updated_at=clock.now())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def add(self, party: Party) -> Party:
        async with self.database.begin() as session:
            session.add(party)
        return party

    async def remove(self, party_id: int) -> None:
        async with self.database.begin() as session:
            party = await session.get(Party, party_id)
            if party is not None:
                await session.delete(party)


async def clients_in(session: AsyncSession, hub_id: int) -> list[Party]:
    """The parties behind a hub (cpo.hubs.clients)."""
    rows = await session.execute(
        select(Party).where(col(Party.hub_id) == hub_id).order_by(col(Party.id))
    )
    return list(rows.scalars())


async def client_in(session: AsyncSession, hub_id: int, ref: PartyRef) -> Party | None:
    """The party behind the hub with this country code and party id (case-blind)."""
    for party in await clients_in(session, hub_id):
        if party.has_role(ref.country_code, ref.party_id):
            return party
    return None


def party_label(party: Party) -> str:
    """How logs name a party: its roles' country_code/party_id, or its name."""
    roles = sorted({f"{r.get('country_code')}/{r.get('party_id')}" for r in party.roles})
    return ", ".join(roles) or party.name or "no roles yet"


def party_view(party: Party) -> dict[str, Any]:
    """What the operator sees of a party: never a token, only whether we hold one."""
    data = party.model_dump(mode="json", exclude={"incoming_token_hash", "outgoing_token"})
    data["can_call_us"] = party.incoming_token_hash is not None
    data["we_can_call"] = party.outgoing_token is not None
    return data


def peer_of(party: Party, token: str | None = None) -> Peer:
    """How to call a party: its outgoing token (or `token`), its encoding, its (first) role
    (for the routing headers, where its version has them)."""
    role = party.roles[0] if party.roles and party.speaks.routed else None
    return Peer(
        token=token or party.outgoing_token or "",
        origins=party.origins(),
        encoding=cast(Encoding, party.token_encoding),
        party_id=party.id,
        ref=PartyRef(role["country_code"], role["party_id"]) if role else None,
    )
