"""The OCPP frame log: every frame in and out, queryable per charger, pruned by retention."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col

from cpo.settings import Settings
from csms import clock
from csms.db import make_database, make_engine
from csms.models import MessageLogEntry
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
