"""Group commit (csms.writer): writes pending together share one transaction, a failing write
is reported to its own caller only, and every write acknowledged is stored."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.schema import migrate
from csms import clock
from csms.authorization import AuthorizationResult, AuthStatus
from csms.db import make_database, make_engine
from csms.events import EventType, record
from csms.metering import ENERGY_REGISTER, Sample
from csms.models import Connector, Event, MeterSample, Station, Transaction
from csms.store import Store, TransactionFacts
from csms.store.connectors import StatusReport
from csms.writer import Writer
from tests.helpers.databases import postgres_url


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


def report(evse: int, status: str, minute: int, **more: Any) -> StatusReport:
    at = datetime(2026, 12, 5, 10, minute, tzinfo=UTC)
    return StatusReport(evse, 1 if evse else 0, status, at, **more)


async def connector_rows(database: async_sessionmaker[AsyncSession]) -> dict[Any, Any]:
    async with database() as session:
        rows = await session.execute(select(Connector).order_by(col(Connector.evse_id)))
        return {
            (c.station_id, c.evse_id): (c.status, c.status_detail, c.error_code, c.status_at)
            for c in rows.scalars()
        }


async def test_status_reports_of_one_group_apply_in_order_as_one_by_one(
    database: async_sessionmaker[AsyncSession],
) -> None:
    """The status batch (Core) writes what the reports one after the other would: a new
    connector, a second report of it in the same group, a stale one dropped, the station's
    own status; and their events."""
    store = Store(database)
    feed = store.feed.subscribe()
    for name in ("CP-S1", "CP-S2"):
        await store.connected(name, "1.6", auto_register=True, epoch=1)
    await store.status("CP-S2", report(1, "Available", 30))
    transactions = store.writer.transactions
    results = await asyncio.gather(
        store.status("CP-S1", report(1, "Available", 0)),
        store.status("CP-S1", report(1, "Charging", 1, error_code="NoError", info="on")),
        store.status("CP-S1", report(2, "Faulted", 2, error_code="GroundFailure")),
        store.status("CP-S1", report(0, "Unavailable", 3)),
        store.status("CP-S2", report(1, "Faulted", 20)),  # older than the one stored
    )
    assert list(results) == [True, True, True, True, False]
    assert store.writer.transactions == transactions + 1
    at = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    assert await connector_rows(database) == {
        ("CP-S1", 1): ("Occupied", "Charging", "NoError", at + timedelta(minutes=1)),
        ("CP-S1", 2): ("Faulted", None, "GroundFailure", at + timedelta(minutes=2)),
        ("CP-S2", 1): ("Available", None, None, at + timedelta(minutes=30)),
    }
    async with database() as session:
        station = await session.get(Station, "CP-S1")
        stored = (
            await session.execute(
                select(Event.station_id, Event.type, Event.data)
                .where(col(Event.type).in_(["ConnectorStatusChanged", "StationStatusChanged"]))
                .order_by(col(Event.id))
            )
        ).all()
    assert station is not None and station.status == "Unavailable"
    assert station.status_at == at + timedelta(minutes=3)
    stamp = "2026-12-05T10:0{}:00+00:00".format
    assert [tuple(e) for e in stored[1:]] == [
        ("CP-S1", "ConnectorStatusChanged",
         {"evse_id": 1, "connector_id": 1, "status": "Available", "timestamp": stamp(0)}),
        ("CP-S1", "ConnectorStatusChanged",
         {"evse_id": 1, "connector_id": 1, "detail": "Charging", "previous": "Available",
          "status": "Occupied", "error_code": "NoError", "info": "on", "timestamp": stamp(1)}),
        ("CP-S1", "ConnectorStatusChanged",
         {"evse_id": 2, "connector_id": 1, "status": "Faulted", "error_code": "GroundFailure",
          "timestamp": stamp(2)}),
        ("CP-S1", "StationStatusChanged", {"status": "Unavailable", "timestamp": stamp(3)}),
    ]  # fmt: skip
    announced = [feed.get_nowait() for _ in range(feed.qsize())]
    statuses = [(e.station_id, e.type, e.data) for e in announced if "Status" in e.type]
    assert statuses[1:] == [tuple(e) for e in stored[1:]]


async def test_past_its_budget_a_charger_changes_a_status_but_adds_nothing(
    database: async_sessionmaker[AsyncSession],
) -> None:
    store = Store(database)
    await store.connected("CP-B", "1.6", auto_register=True, epoch=1)
    assert await store.status("CP-B", report(1, "Available", 0))
    spent = Store(database, data_bytes_per_minute=0)  # the same charger, past its budget
    results = [
        await spent.status("CP-B", report(1, "Available", 1)),  # changes nothing
        await spent.status("CP-B", report(2, "Available", 1)),  # would add a connector
        await spent.status("CP-B", report(1, "Faulted", 2)),  # a change: applied
    ]
    assert results == [False, False, True]
    at = datetime(2026, 12, 5, 10, 2, tzinfo=UTC)
    assert await connector_rows(database) == {("CP-B", 1): ("Faulted", None, None, at)}


async def test_two_nodes_status_reports_of_one_connector_keep_the_newest(tmp_path: Path) -> None:
    """Two nodes (PostgreSQL, READ COMMITTED) apply reports of one connector at once, in
    either order: the newest stands, and each event's `previous` is the status it replaced."""
    url = postgres_url(tmp_path)
    await migrate(url)
    engines = [make_engine(url), make_engine(url)]
    try:
        nodes = [Store(make_database(engine)) for engine in engines]
        await nodes[0].connected("CP-N", "2.0.1", auto_register=True, epoch=1)
        for n in range(20):
            older, newer = report(1, "Occupied", 2 * n), report(1, f"Faulted{n}", 2 * n + 1)
            first, second = (0, 1) if n % 2 else (1, 0)
            await asyncio.gather(
                nodes[first].status("CP-N", older), nodes[second].status("CP-N", newer)
            )
            stored = await connector_rows(make_database(engines[0]))
            assert stored[("CP-N", 1)][0] == f"Faulted{n}"
        async with make_database(engines[0])() as session:
            chain = (
                await session.execute(
                    select(Event.data)
                    .where(col(Event.type) == "ConnectorStatusChanged")
                    .order_by(col(Event.id))
                )
            ).scalars()
            chain = list(chain)
    finally:
        for engine in engines:
            await engine.dispose()
    for before, after in zip(chain, chain[1:], strict=False):
        assert after["previous"] == before["status"]
    assert chain[-1]["status"] == "Faulted19"
