"""Read-then-write paths that two transactions run at once: right on SQLite, which takes one
writer at a time, and on PostgreSQL under READ COMMITTED, which does not (ADR 016)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.push.deliverer import Claimed, Deliverer
from cpo.push.outbox import Outbox
from cpo.tables import Party, PartyState
from cpo.tokens.store import store_tokens
from cpo.tokens.tables import OcpiToken
from cpo.tokens.v221 import Token
from csms import clock

ROUNDS = 150


async def registered_party(database: async_sessionmaker[AsyncSession]) -> Party:
    async with database.begin() as session:
        party = Party(
            name="eMSP",
            state=PartyState.REGISTERED,
            roles=[{"role": "EMSP", "country_code": "NL", "party_id": "EMS"}],
            version="2.2.1",
            versions_url="http://127.0.0.1:9/versions",
            endpoints=[],
            outgoing_token="token-c",
        )
        session.add(party)
    return party


async def test_a_change_marked_while_its_row_is_removed_is_still_sent(
    database: async_sessionmaker[AsyncSession],
) -> None:
    """Each round marks the tariff again just as the deliverer removes the row of the send
    that ended: the mark either merges into the row (which then goes again) or makes a new
    one, never updates a row that is gone and loses the change."""
    party = await registered_party(database)
    assert party.id is not None
    state = {"current": 0, "sent": 0}
    sent = asyncio.Condition()

    async def send(_party: Party, row: Claimed, held: bool) -> datetime:
        async with sent:
            state["sent"] = state["current"]  # the object's state as it is when it travels
            sent.notify_all()
        return clock.now()

    outbox = Outbox()
    deliverer = Deliverer(database, outbox, {"tariff": send}, poll=0.2)
    deliverer.start()
    try:
        for n in range(1, ROUNDS + 1):
            state["current"] = n
            async with database.begin() as session:
                await Outbox.mark(session, [party.id], "tariff", "AC-STANDARD")
            outbox.wake()
            async with sent, asyncio.timeout(10):  # a lost change is never sent
                await sent.wait_for(lambda n=n: state["sent"] >= n)  # type: ignore[misc]
    finally:
        await deliverer.stop()


def token(uid: str) -> Token:
    return Token.model_validate(
        {
            "country_code": "NL",
            "party_id": "EMS",
            "uid": uid,
            "type": "RFID",
            "contract_id": f"NL-EMS-{uid}",
            "issuer": "eMSP",
            "valid": True,
            "whitelist": "ALLOWED",
            "last_updated": "2026-01-01T00:00:00Z",
        }
    )


async def test_two_pulls_storing_the_same_new_tokens_at_once_both_succeed(
    database: async_sessionmaker[AsyncSession],
) -> None:
    """Two pages holding the same tokens, in opposite orders, stored at once: each token is
    created once and replaced once, with neither batch failing (no unique violation, no
    deadlock)."""
    party = await registered_party(database)
    assert party.id is not None
    owner = party.id

    async def pull(tokens: list[Token]) -> list[tuple[bool, int]]:
        async with database.begin() as session:
            return await store_tokens(session, owner, tokens)

    for n in range(ROUNDS // 5):
        page = [token(f"R{n:03d}T{t:02d}") for t in range(10)]
        first, second = await asyncio.gather(pull(page), pull(page[::-1]))
        second = second[::-1]
        assert [a[1] for a in first] == [b[1] for b in second]  # the same rows
        assert all(a[0] != b[0] for a, b in zip(first, second, strict=True))  # one created each
    async with database() as session:
        count = (await session.execute(select(func.count()).select_from(OcpiToken))).scalar_one()
    assert count == ROUNDS // 5 * 10
