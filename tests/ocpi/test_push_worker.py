"""The push worker process (cpo.push.worker, ADR 012): the projection and the deliverer do there
what they do in the server's process, woken by the server, and the worker outlives neither a
crash of its own nor its server."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx

from cpo.push.worker import PushWorker, can_share
from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator
from tests.helpers.ocpi import location, pushed, register_with
from tests.helpers.platform import Platform, post

PASSWORD = "worker-pass-00001"


def status(emsp: EmspSimulator) -> str:
    return str(emsp.locations[("NL", "CPO", "WRK-1")]["evses"][0]["status"])


def test_only_a_database_another_process_can_open_is_shared() -> None:
    assert can_share("sqlite+aiosqlite:////var/lib/cpo/cpo.db")
    assert can_share("postgresql+asyncpg://cpo@db/cpo")
    assert not can_share("sqlite+aiosqlite://")
    assert not can_share("sqlite+aiosqlite:///:memory:")


async def test_changes_reach_the_emsp_through_the_worker_which_survives_a_crash(
    tmp_path: Path,
) -> None:
    # Polls far apart: what reaches the eMSP in time was announced to the worker.
    platform = await Platform(tmp_path, push_worker=True, push_poll=60).start()
    worker: PushWorker = platform.state.push_worker
    try:
        assert worker.process is not None
        first = worker.process
        async with httpx.AsyncClient() as client:
            health = (await client.get(f"{platform.url}/health")).json()
        assert health["push_worker"] == {"state": "running", "restarts": 0}
        async with EmspSimulator(party_id="EMS") as emsp:
            # Operator data: the server marks the outbox, the worker delivers.
            await register_with(platform, emsp)
            await post(platform, "/locations", location("WRK-1", [("WRK-1-1", "CP-W", 1)]))
            put = await emsp.wait_for(pushed("PUT", "/NL/CPO/WRK-1"))
            assert [e["status"] for e in put.body["evses"]] == ["UNKNOWN"]

            await platform.add_station("CP-W", PASSWORD)
            async with ChargePointSimulator(
                id="CP-W", url=platform.ws_url, ocpp="1.6", password=PASSWORD
            ) as charger:
                await charger.boot()
                # Charger state: the server stores the event, the worker projects and sends it.
                await charger.status(1, "Available")
                patch = await emsp.wait_for(
                    lambda r: pushed("PATCH", "/WRK-1-1")(r) and r.body["status"] == "AVAILABLE"
                )
                assert set(patch.body) == {"status", "last_updated"}

                os.kill(first.pid, signal.SIGKILL)
                assert await first.wait() == -signal.SIGKILL
                # A change while no worker runs waits in the event log for the next one.
                await charger.status(1, "Unavailable")
                # It goes whole if the worker died before noting the PATCH it sent.
                await emsp.wait_for(lambda r: status(emsp) == "INOPERATIVE")
        assert worker.restarts == 1
        second = worker.process
        assert second is not None and second.pid != first.pid and second.returncode is None
    finally:
        await platform.stop()
    # Closing its pipe stopped the worker: it ended by itself, not killed.
    assert second.returncode == 0
