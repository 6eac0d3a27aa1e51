"""The OCPP frame log: every frame in and out, queryable per charger, pruned by retention."""

from __future__ import annotations

from datetime import timedelta

from csms import clock
from tests.platform import Platform
from tests.test_ocpp_bad_input import booted
from tests.wire import call


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
    p = await Platform(tmp_path, message_log_retention_days=1).start()
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
