"""Group commit (csms.writer): writes pending together share one transaction, a failing write
is reported to its own caller only, and every write acknowledged is stored."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from csms import clock
from csms.authorization import AuthorizationResult, AuthStatus
from csms.events import EventType, record
from csms.metering import ENERGY_REGISTER, Sample
from csms.models import Event, MeterSample, Transaction
from csms.store import Store, TransactionFacts
from csms.writer import Writer


def note(station_id: str) -> Any:
    async def job(session: AsyncSession) -> str:
        await record(session, station_id, EventType.DATA_TRANSFER, vendor_id="bench")
        return station_id

    return job


async def broken(session: AsyncSession) -> str:
    await record(session, "CP-BROKEN", EventType.DATA_TRANSFER, vendor_id="bench")
    raise ValueError("this write cannot be made")


async def stations_logged(database: async_sessionmaker[AsyncSession]) -> list[str]:
    async with database() as session:
        rows = await session.execute(select(Event.station_id).order_by(col(Event.id)))
        return [r[0] for r in rows]


async def test_writes_pending_together_commit_in_one_transaction(
    database: async_sessionmaker[AsyncSession],
) -> None:
    announced: list[Any] = []
    writer = Writer(database, announced.extend)
    # Handed over before the writer gets to run: they wait for it together.
    results = await asyncio.gather(*(writer.run(note(f"CP-{n}")) for n in range(5)))
    assert results == [f"CP-{n}" for n in range(5)]
    assert writer.transactions == 1
    assert await stations_logged(database) == [f"CP-{n}" for n in range(5)]
    assert [e.station_id for e in announced] == [f"CP-{n}" for n in range(5)]


async def test_a_failing_write_is_reported_to_its_own_caller_only(
    database: async_sessionmaker[AsyncSession],
) -> None:
    announced: list[Any] = []
    writer = Writer(database, announced.extend)
    outcomes = await asyncio.gather(
        writer.run(note("CP-A")),
        writer.run(broken),
        writer.run(note("CP-C")),
        return_exceptions=True,
    )
    assert outcomes[0] == "CP-A" and outcomes[2] == "CP-C"
    assert isinstance(outcomes[1], ValueError)
    # The broken write left nothing behind, the others are stored and were announced once.
    assert await stations_logged(database) == ["CP-A", "CP-C"]
    assert sorted(e.station_id for e in announced) == ["CP-A", "CP-C"]


async def test_every_acknowledged_meter_value_is_stored(
    database: async_sessionmaker[AsyncSession],
) -> None:
    store = Store(database)
    feed = store.feed.subscribe()
    await store.connected("CP-MV", "1.6", auto_register=True, epoch=1)
    started = clock.now() - timedelta(hours=1)
    tx = await store.start_transaction(
        "CP-MV",
        TransactionFacts(
            timestamp=started,
            evse_id=1,
            connector_id=1,
            id_token="TAG",
            auth=AuthorizationResult(AuthStatus.ACCEPTED),
            meter_wh=1000.0,
        ),
    )
    assert tx.id is not None

    def reading(n: int) -> list[Sample]:
        at = started + timedelta(minutes=n)
        return [
            Sample(at, ENERGY_REGISTER, 1000.0 + 100 * n, "Wh", context="Sample.Periodic"),
            Sample(at, "Power.Active.Import", 6000.0, "W", context="Sample.Periodic"),
        ]

    # Sent in a scrambled order, all at once: some share a transaction, the latest reading wins.
    order = [(n * 7) % 40 + 1 for n in range(40)]
    await asyncio.gather(*(store.meter_values("CP-MV", 1, tx.id, reading(n)) for n in order))
    # An unknown transaction id: linked by the EVSE's open transaction instead.
    await store.meter_values("CP-MV", 1, 999_999, reading(41))

    async with database() as session:
        samples = (
            await session.execute(
                select(func.count()).where(col(MeterSample.transaction_id) == tx.id)
            )
        ).scalar()
        events = (
            await session.execute(
                select(func.count()).where(col(Event.type) == "MeterValuesSampled")
            )
        ).scalar()
        stored = await session.get(Transaction, tx.id)
    assert samples == 2 * 41 and events == 41
    assert stored is not None
    assert stored.meter_last_wh == 1000.0 + 100 * 41
    assert stored.meter_last_at == started + timedelta(minutes=41)
    announced = [feed.get_nowait() for _ in range(feed.qsize())]
    metered = [e for e in announced if e.type == "MeterValuesSampled"]
    assert len(metered) == 41
    assert all(e.data["transaction_id"] == tx.id for e in metered)
