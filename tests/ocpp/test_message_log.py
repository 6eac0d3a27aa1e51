"""The OCPP frame log: every frame in and out, queryable per charger, pruned by retention."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.schema import migrate
from cpo.settings import Settings
from csms import batching, clock
from csms.db import make_database, make_engine
from csms.messagelog import MessageLog
from csms.models import MessageLogEntry
from tests.helpers.databases import database_url
from tests.helpers.platform import Platform
from tests.helpers.wire import booted, call


async def test_frames_are_logged_both_ways_and_paged(platform: Platform) -> None:
    ws = await booted(platform, "CP-AUDIT")
    for _ in range(3):
        await call(ws, "Heartbeat", {})
    await ws.close()
    async with platform.admin() as admin:
        newest = (await admin.get("/stations/CP-AUDIT/messages", params={"limit": 2})).json()
        older = (
            await admin.get(
                "/stations/CP-AUDIT/messages", params={"limit": 100, "before": newest[-1]["id"]}
            )
        ).json()
    assert [(m["direction"], m["message_type"], m["action"]) for m in newest] == [
        ("out", 3, "Heartbeat"),
        ("in", 2, "Heartbeat"),
    ]
    assert (
        len(older) == 6
        and older[-1]["action"] == "BootNotification"
        and older[-1]["direction"] == "in"
    )


async def test_retention_removes_old_frames_only(tmp_path) -> None:
    p = await Platform(tmp_path, message_log_days=1).start()
    try:
        ws = await booted(p, "CP-OLDLOG")
        await ws.close()
        log = p.csms.message_log
        await log.flush()
        assert await log.purge(now=clock.now() + timedelta(hours=1)) == 0
        assert await log.purge(now=clock.now() + timedelta(days=2)) == 2
        assert await log.query("CP-OLDLOG") == []
    finally:
        await p.stop()


async def test_frames_past_their_days_are_purged_when_the_platform_starts(tmp_path) -> None:
    first = await Platform(tmp_path).start()
    try:
        for station_id in ("CP-AGED", "CP-FRESH"):
            await (await booted(first, station_id)).close()
    finally:
        await first.stop()
    engine = make_engine(first.settings.database_url)
    async with make_database(engine).begin() as session:
        await session.execute(
            update(MessageLogEntry)
            .where(col(MessageLogEntry.station_id) == "CP-AGED")
            .values(created_at=clock.now() - timedelta(days=8))
        )
    await engine.dispose()

    second = await Platform(tmp_path, message_log_days=7).start()
    try:
        log = second.csms.message_log
        await asyncio.wait_for(log.purged.wait(), 10)
        assert await log.query("CP-AGED") == []
        assert len(await log.query("CP-FRESH")) == 2
    finally:
        await second.stop()


def test_the_message_log_days_keep_their_earlier_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CPO_MESSAGE_LOG_RETENTION_DAYS", "3")
    assert Settings(_env_file=None).message_log_days == 3  # type: ignore[call-arg]
    monkeypatch.setenv("CPO_MESSAGE_LOG_DAYS", "4")
    assert Settings(_env_file=None).message_log_days == 4  # type: ignore[call-arg]


async def _frames_aged(url: str, days_old: list[int]) -> tuple[AsyncEngine, MessageLog]:
    """A migrated database whose message log holds one frame per entry of `days_old`, written
    in that order; an engine on it and its MessageLog (7 days kept)."""
    await migrate(url)
    engine = make_engine(url)
    database = make_database(engine)
    now = clock.now()
    async with database.begin() as session:
        for n, days in enumerate(days_old):
            session.add(
                MessageLogEntry(
                    created_at=now - timedelta(days=days),
                    station_id=f"CP-{n}",
                    direction="in",
                    payload='[2,"1","Heartbeat",{}]',
                )
            )
    return engine, MessageLog(database, retention_days=7)


async def _stations_left(database: async_sessionmaker[AsyncSession]) -> list[str]:
    async with database() as session:
        rows = await session.execute(
            select(col(MessageLogEntry.station_id)).order_by(col(MessageLogEntry.id))
        )
        return list(rows.scalars())


async def test_the_purge_walks_ids_past_a_frame_whose_time_is_out_of_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No index of times: the purge walks the log in id order, a chunk at a time, until a chunk
    holds nothing that old. A frame dated a year ahead (a node's clock set wrong) neither stops
    it nor goes before its time."""
    monkeypatch.setattr(batching, "PURGE_CHUNK", 2)
    engine, log = await _frames_aged(database_url(tmp_path), [10, 10, -365, 10, 10, 0, 10])
    try:
        assert await log.purge() == 5
        assert await _stations_left(log._database) == ["CP-2", "CP-5"]
        # A chunk of frames inside their days ends the walk: what follows waits its turn.
        async with log._database.begin() as session:
            session.add(
                MessageLogEntry(
                    created_at=clock.now() - timedelta(days=10),
                    station_id="CP-7",
                    direction="in",
                    payload="[]",
                )
            )
        assert await log.purge() == 0
        assert await log.purge(now=clock.now() + timedelta(days=7, hours=1)) == 2
        assert await _stations_left(log._database) == ["CP-2"]
    finally:
        await engine.dispose()


async def test_two_nodes_purging_at_once_delete_each_old_frame_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batching, "PURGE_CHUNK", 2)
    url = database_url(tmp_path)
    engine, first = await _frames_aged(url, [10] * 9 + [0] * 3)
    other = make_engine(url)
    try:
        second = MessageLog(make_database(other), retention_days=7)
        assert sum(await asyncio.gather(first.purge(), second.purge())) == 9
        assert await _stations_left(first._database) == ["CP-9", "CP-10", "CP-11"]
    finally:
        await other.dispose()
        await engine.dispose()
