"""One projection at a time across nodes (ADR 017): the lease "projection" in the database,
taken by one node, renewed in each step's transaction (a holder that lost it commits nothing),
handed over on a graceful stop, taken by a standby within seconds when the holder dies; and
the periodic jobs that every node runs but that must happen once in the cluster.

What is about several nodes runs on PostgreSQL always: several nodes means PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select

from cpo import leases
from cpo.projection import CURSOR, LEASE, Projection
from cpo.schema import migrate
from csms import clock
from csms.db import make_database, make_engine
from csms.events import EventType
from csms.models import Station, Transaction
from csms.store import Store
from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator
from tests.helpers.databases import database_url, fetch, postgres_url
from tests.helpers.ocpi import location, register_with
from tests.helpers.platform import Platform, post

TTL = 2.0  # seconds: the lease of the tests' projections


@asynccontextmanager
async def nodes(url: str, count: int) -> AsyncIterator[list[async_sessionmaker[AsyncSession]]]:
    """Sessions of `count` processes on one migrated database, each with its own engine."""
    await migrate(url)
    engines = [make_engine(url) for _ in range(count)]
    try:
        yield [make_database(engine) for engine in engines]
    finally:
        for engine in engines:
            await engine.dispose()


async def in_turn(
    database: async_sessionmaker[AsyncSession], work: Callable[[AsyncSession], Awaitable[Any]]
) -> Any:
    async with database.begin() as session:
        return await work(session)


EXPIRE = "UPDATE leases SET expires_at = '2000-01-01 00:00:00' WHERE name = :n"


async def expire(url: str, name: str) -> None:
    """The lease runs out (its holder stalled or died), by the database's clock."""
    await fetch(url, EXPIRE, n=name)


async def holder(url: str) -> str:
    [(name,)] = await fetch(url, "SELECT holder FROM leases WHERE name = :n", n=LEASE)
    return str(name)


async def cursor(url: str) -> int:
    rows = await fetch(url, "SELECT value FROM meta WHERE key = :k", k=CURSOR)
    return int(str(rows[0][0])) if rows else 0


async def last_event(url: str) -> int:
    [(last,)] = await fetch(url, "SELECT max(id) FROM events")
    return int(str(last))


async def holding(projection: Projection) -> None:
    """The projection holds its lease: its first step takes it (this one, if it has not run)."""
    await projection.step()
    assert projection.lease.held


def evse_status(emsp: EmspSimulator, location_id: str) -> str | None:
    held = emsp.locations.get(("NL", "CPO", location_id))
    return str(held["evses"][0]["status"]) if held else None


# -- the lease ------------------------------------------------------------------------------------


async def test_of_nodes_taking_a_lease_at_once_one_holds_it_and_a_takeover_fences_the_old(
    tmp_path: Path,
) -> None:
    url = postgres_url(tmp_path)
    async with nodes(url, 6) as each:
        taken = await asyncio.gather(
            *(
                in_turn(s, lambda db, i=i: leases.acquire(db, "job", f"node-{i}", 30))
                for i, s in enumerate(each)
            )
        )
        [token] = [t for t in taken if t is not None]
        first = f"node-{taken.index(token)}"
        other = "node-5" if first != "node-5" else "node-4"
        # Held: nobody else takes it, the holder renews it.
        assert await in_turn(each[0], lambda db: leases.acquire(db, "job", other, 30)) is None
        assert await in_turn(each[0], lambda db: leases.renew(db, "job", first, token, 30))

        # It runs out: another takes it under a new token, and the old holder renews nothing.
        await expire(url, "job")
        newer = await in_turn(each[1], lambda db: leases.acquire(db, "job", other, 30))
        assert newer == token + 1
        assert not await in_turn(each[0], lambda db: leases.renew(db, "job", first, token, 30))

        # Released: free at once for the next.
        assert await in_turn(each[1], lambda db: leases.release(db, "job", other, newer))
        assert await in_turn(each[2], lambda db: leases.acquire(db, "job", first, 30)) == token + 2


async def test_a_job_of_the_cluster_comes_round_to_one_node_per_period(tmp_path: Path) -> None:
    url = postgres_url(tmp_path)
    async with nodes(url, 4) as each:

        async def ask() -> list[bool]:
            return list(
                await asyncio.gather(
                    *(
                        in_turn(s, lambda db, i=i: leases.take_turn(db, "job", f"node-{i}", 3600))
                        for i, s in enumerate(each)
                    )
                )
            )

        assert await ask() == [False] * 4  # the first ask starts the clock
        assert await ask() == [False] * 4  # not due for an hour
        await expire(url, "job")
        assert sorted(await ask()) == [False, False, False, True]
        assert await ask() == [False] * 4


async def test_two_nodes_sweeping_stale_transactions_at_once_end_each_once(
    tmp_path: Path,
) -> None:
    url = postgres_url(tmp_path)
    async with nodes(url, 3) as each:
        old = clock.now() - timedelta(hours=5)
        async with each[0].begin() as session:
            session.add(Station(id="CP-STALE"))
            await session.flush()
            for n in range(200):
                session.add(
                    Transaction(
                        station_id="CP-STALE",
                        ocpp_transaction_id=str(n),
                        suspect=True,
                        started_at=old,
                        updated_at=old,
                    )
                )
        for s in each:  # connected already, so that the sweeps start together
            await in_turn(s, lambda db: db.execute(select(Station.id)))
        stores = [Store(s) for s in each]
        closed = await asyncio.gather(*(s.close_stale(timedelta(hours=2)) for s in stores))
        assert sum(closed) == 200
        ended = await fetch(
            url, "SELECT count(*) FROM events WHERE type = :t", t="TransactionEnded"
        )
        assert ended == [(200,)]


# -- the projection on several nodes --------------------------------------------------------


@asynccontextmanager
async def two_nodes(
    tmp_path: Path, **settings: Any
) -> AsyncIterator[tuple[Platform, Platform, EmspSimulator, ChargePointSimulator]]:
    """Nodes A and B on one PostgreSQL database, A's projection holding the lease and B's
    standing by; an eMSP registered, and a charger on B whose EVSE the eMSP holds AVAILABLE."""
    url = postgres_url(tmp_path)
    common = dict(database_url=url, projection_lease_seconds=TTL) | settings
    async with AsyncExitStack() as stack:
        a = await Platform(tmp_path, node_name="node-a", **common).start()
        stack.push_async_callback(a.stop)
        await holding(a.state.ocpi_side.projection)
        b = await Platform(tmp_path, node_name="node-b", **common).start()
        stack.push_async_callback(b.stop)
        emsp = await stack.enter_async_context(EmspSimulator(party_id="EMS"))
        await register_with(a, emsp)
        await post(a, "/locations", location("TWO-1", [("TWO-1-1", "CP-TWO", 1)]))
        await b.add_station("CP-TWO")
        charger = ChargePointSimulator(id="CP-TWO", url=b.ws_url, ocpp="1.6")
        await stack.enter_async_context(charger)
        await charger.boot()
        await charger.status(1, "Available")
        await emsp.wait_for(lambda r: evse_status(emsp, "TWO-1") == "AVAILABLE", timeout=10)
        yield a, b, emsp, charger


async def test_one_node_projects_and_the_standby_takes_over_within_seconds_when_it_dies(
    tmp_path: Path,
) -> None:
    async with two_nodes(tmp_path) as (a, b, emsp, charger):
        url = a.settings.database_url
        assert await holder(url) == "node-a"
        standby = b.state.ocpi_side.projection
        # The charger's events are B's, but B's projection only stands by.
        await charger.status(1, "Unavailable")
        assert await standby.step() == 0 and not standby.lease.held
        await emsp.wait_for(lambda r: evse_status(emsp, "TWO-1") == "INOPERATIVE", timeout=10)

        # A's projection dies without a word (as in kill -9): nothing releases its lease.
        dying = a.state.ocpi_side.projection._task
        dying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dying
        await charger.status(1, "Available")
        # It expires TTL after A's last step; B tries every second, then projects at once.
        await emsp.wait_for(
            lambda r: evse_status(emsp, "TWO-1") == "AVAILABLE", timeout=TTL + 1 + 2
        )
        assert await holder(url) == "node-b" and standby.lease.held
        assert await cursor(url) == await last_event(url)


async def test_a_node_that_stops_hands_the_projection_over_at_once(tmp_path: Path) -> None:
    # A lease of a minute: only the release lets B take over within seconds.
    async with two_nodes(tmp_path, projection_lease_seconds=60.0) as (a, b, emsp, charger):
        await a.stop()
        await charger.status(1, "Unavailable")
        await emsp.wait_for(lambda r: evse_status(emsp, "TWO-1") == "INOPERATIVE", timeout=5)
        assert await holder(a.settings.database_url) == "node-b"


async def test_a_projection_whose_lease_was_taken_commits_nothing(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    platform = await Platform(tmp_path, projection_lease_seconds=TTL).start()
    try:
        projection = platform.state.ocpi_side.projection
        await holding(projection)
        async with EmspSimulator(party_id="EMS") as emsp:
            await register_with(platform, emsp)
            await post(platform, "/locations", location("FEN-1", [("FEN-1-1", "CP-FEN", 1)]))
            await platform.add_station("CP-FEN")
            async with ChargePointSimulator(id="CP-FEN", url=platform.ws_url, ocpp="1.6") as cp:
                await cp.boot()
                await cp.status(1, "Available")
                await emsp.wait_for(lambda r: evse_status(emsp, "FEN-1") == "AVAILABLE")

                # Another process takes the lease while this one still thinks it holds it:
                # the lease runs out and is taken in one transaction (no step of this one's
                # between the two renews it).
                async with nodes(url, 1) as [other]:

                    async def take_over(db: AsyncSession) -> Any:
                        await db.execute(text(EXPIRE), {"n": LEASE})
                        return await leases.acquire(db, LEASE, "node-other", 600)

                    thief = await in_turn(other, take_over)
                    assert thief is not None
                    events = platform.events()
                    await cp.status(1, "Unavailable")
                    await events.wait(EventType.CONNECTOR_STATUS_CHANGED)
                    events.close()
                    before = await cursor(url)
                    assert before < await last_event(url)
                    # Its step renews nothing, so it rolls back whole: the event stays unread.
                    assert await projection.step() == 0
                    assert not projection.lease.held
                    assert await cursor(url) == before
                    assert await fetch(
                        url, "SELECT status FROM location_evses WHERE uid = 'FEN-1-1'"
                    ) == [("AVAILABLE",)]

                    # The other hands it back: this projection takes it and goes on.
                    await in_turn(other, lambda db: leases.release(db, LEASE, "node-other"))
                await emsp.wait_for(lambda r: evse_status(emsp, "FEN-1") == "INOPERATIVE")
                assert await cursor(url) == await last_event(url)
    finally:
        await platform.stop()
