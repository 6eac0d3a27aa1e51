"""Chargers coming and going in groups (csms.presence): many connects and boots share a
transaction, each with its event, and the order a charger came and went in is kept."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from csms import clock
from csms.events import EventType
from csms.mailbox import Mailbox
from csms.models import Event, Station, Transaction
from csms.store import BootInfo, Store


async def events(database: async_sessionmaker[AsyncSession]) -> list[tuple[str, str]]:
    async with database() as session:
        rows = await session.execute(select(Event.station_id, Event.type).order_by(col(Event.id)))
        return [(r[0], r[1]) for r in rows]


async def test_a_storm_of_connects_and_boots_commits_in_a_few_transactions(
    database: async_sessionmaker[AsyncSession],
) -> None:
    store = Store(database)
    ids = [f"CP-{n}" for n in range(50)]
    presences = await asyncio.gather(*(store.connected(i, "1.6", True, 1) for i in ids))
    assert all(not p.accepted for p in presences)
    await asyncio.gather(*(store.booted(i, BootInfo(vendor="V", model="M")) for i in ids))

    assert store.writer.transactions <= 4  # not one per charger and message
    async with database() as session:
        stations = (await session.execute(select(Station))).scalars().all()
    assert {s.id for s in stations} == set(ids)
    assert all(s.online and s.accepted_at and s.vendor == "V" for s in stations)
    logged = await events(database)
    assert logged.count(("CP-7", EventType.STATION_CONNECTED.value)) == 1
    assert logged.count(("CP-7", EventType.STATION_BOOTED.value)) == 1
    assert (await store.login("CP-7")) is not None and (await store.login("CP-X")) is None
    assert (await store.connected("CP-7", "2.0.1", False, 2)).accepted


async def test_a_charger_that_goes_and_comes_back_in_one_group_stays_online(
    database: async_sessionmaker[AsyncSession],
) -> None:
    store = Store(database)
    await store.connected("CP-1", "1.6", True, 1)
    await asyncio.gather(
        store.connected("CP-2", "1.6", True, 1),
        store.disconnected("CP-1", "closed by the charger (1006)", 1),
        store.connected("CP-1", "1.6", True, 2),
    )
    async with database() as session:
        station = await session.get(Station, "CP-1")
    assert station is not None and station.online
    assert (await events(database))[-3:] == [
        ("CP-2", EventType.STATION_CONNECTED.value),
        ("CP-1", EventType.STATION_DISCONNECTED.value),
        ("CP-1", EventType.STATION_CONNECTED.value),
    ]


async def test_a_boot_marks_the_transactions_it_interrupted_suspect(
    database: async_sessionmaker[AsyncSession],
) -> None:
    store = Store(database)
    await store.connected("CP-1", "1.6", True, 1)
    async with database.begin() as session:
        session.add(Transaction(station_id="CP-1", evse_id=1, connector_id=1))
    await store.booted("CP-1", BootInfo(vendor="V", model="M", reason="PowerUp"))
    async with database() as session:
        booted = (
            await session.execute(select(Event).where(Event.type == "StationBooted"))
        ).scalar_one()
        tx = (await session.execute(select(Transaction))).scalar_one()
    assert tx.suspect and booted.data["suspect_transactions"] == [tx.id]
    assert booted.data["reason"] == "PowerUp" and "serial_number" not in booted.data


async def test_a_mailbox_hands_over_in_order_and_keeps_what_a_cancelled_get_missed() -> None:
    box: Mailbox[int] = Mailbox()
    loop = asyncio.get_running_loop()
    # Callbacks run in the order they were scheduled: each get starts (and waits) first.
    cancelled = asyncio.ensure_future(box.get())
    loop.call_soon(cancelled.cancel)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    box.put_nowait(1)
    box.put_nowait(2)
    assert [await box.get(), await box.get()] == [1, 2] and box.empty()
    waiting = asyncio.ensure_future(box.get())
    loop.call_soon(box.put_nowait, 3)
    assert await waiting == 3


async def test_only_chargers_still_on_a_connection_older_than_the_start_are_abandoned(
    database: async_sessionmaker[AsyncSession],
) -> None:
    store = Store(database)
    await store.connected("CP-LEFT", "1.6", True, 1)
    await store.connected("CP-GONE-ALREADY", "1.6", True, 1)
    await store.disconnected("CP-GONE-ALREADY", "closed by the charger (1000)", 1)
    started = clock.now()
    await store.connected("CP-BACK", "1.6", True, 1)  # reconnected after the start

    candidates = await store.left_online(connected_before=started)
    assert candidates == ["CP-LEFT"]
    # Even told to, the write leaves a charger that reconnected meanwhile online.
    gone = await store.abandoned(["CP-LEFT", "CP-BACK"], started, "did not reconnect")
    assert gone == ["CP-LEFT"]
    async with database() as session:
        online = {s.id: s.online for s in (await session.execute(select(Station))).scalars()}
    assert online == {"CP-LEFT": False, "CP-GONE-ALREADY": False, "CP-BACK": True}
    assert (await events(database))[-1] == ("CP-LEFT", EventType.STATION_DISCONNECTED.value)


async def test_the_late_close_of_a_replaced_connection_leaves_the_charger_online(
    database: async_sessionmaker[AsyncSession],
) -> None:
    """Two connections of one charger (on two nodes): the database follows the younger one
    whatever order their writes come in, and only its close marks the charger offline."""
    store = Store(database)
    await store.connected("CP-MOVED", "1.6", True, 10)
    await store.connected("CP-MOVED", "2.0.1", True, 20)
    await store.connected("CP-MOVED", "1.6", True, 10)  # the old node's connect, written late
    await store.disconnected("CP-MOVED", "closed by the charger (1006)", 10)  # its late close
    async with database() as session:
        station = await session.get(Station, "CP-MOVED")
    assert station is not None and station.online and station.connection_epoch == 20
    assert station.ocpp_version == "2.0.1"
    assert EventType.STATION_DISCONNECTED.value not in {t for _, t in await events(database)}

    await store.disconnected("CP-MOVED", "closed by the charger (1000)", 20)
    async with database() as session:
        station = await session.get(Station, "CP-MOVED")
    assert station is not None and not station.online


async def test_a_connection_no_node_holds_is_abandoned_only_if_it_is_still_the_one_recorded(
    database: async_sessionmaker[AsyncSession],
) -> None:
    store = Store(database)
    await store.connected("CP-DEAD-NODE", "1.6", True, 5)
    await store.connected("CP-MOVED-ON", "1.6", True, 7)
    epochs = await store.online_epochs()
    assert epochs == {"CP-DEAD-NODE": 5, "CP-MOVED-ON": 7}
    await store.connected("CP-MOVED-ON", "1.6", True, 8)  # it reconnected meanwhile
    gone = await store.abandoned_connections(epochs, "its node is gone")
    assert gone == ["CP-DEAD-NODE"]
    assert await store.online_epochs() == {"CP-MOVED-ON": 8}
