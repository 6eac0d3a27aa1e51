"""Replies to calls we never made, broken and binary frames: throttled like CALLs, then cut off,
and never in the way of our own calls to that charger."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from simulators.charge_point import ChargePointSimulator
from tests.helpers.platform import Platform
from tests.helpers.wire import booted, call

VERSIONS = ["1.6", "2.0.1"]

# One of each kind of frame that is not a CALL we could handle.
STRAY: dict[str, Any] = {
    "unsolicited CALLRESULT": lambda i: json.dumps([3, f"never-sent-{i}", {"status": "Accepted"}]),
    "unsolicited CALLERROR": lambda i: json.dumps([4, f"never-sent-{i}", "GenericError", "", {}]),
    "malformed": lambda i: f'[2, "m{i}", "Heartbeat", {{',
    "binary": lambda i: json.dumps([2, f"b{i}", "Heartbeat", {}]).encode(),
}


async def online(platform: Platform, station_id: str, version: str) -> ChargePointSimulator:
    await platform.add_station(station_id)
    sim = ChargePointSimulator(id=station_id, url=platform.ws_url, ocpp=version)
    await sim.connect()
    assert await sim.boot() == "Accepted"
    await sim.status(1, "Available")
    return sim


async def unlock(platform: Platform, station_id: str) -> tuple[int, dict[str, Any]]:
    async with platform.admin() as admin:
        response = await admin.post(f"/stations/{station_id}/commands/unlock", json={"evse_id": 1})
    return response.status_code, response.json()


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_stream_of_replies_to_calls_never_made_leaves_commands_working(
    tmp_path: Path, version: str
) -> None:
    # A limit high enough that the stream is not cut off: this is about where the replies go.
    p = await Platform(tmp_path, rate_limit=10_000, rate_burst=5_000).start()
    try:
        sim = await online(p, f"CP-STRAY-{version}", version)
        for i in range(1_500):
            await sim.send_raw(STRAY["unsolicited CALLRESULT"](i))
            if i % 5 == 0:
                await sim.send_raw(STRAY["unsolicited CALLERROR"](i))
        status, result = await unlock(p, sim.id)
        assert (status, result["outcome"], result["status"]) == (200, "answered", "Unlocked")
        # The stray replies went nowhere: nothing waits in the library's response queue.
        connection = p.csms.registry.get(sim.id)
        assert connection is not None and connection.charge_point is not None
        assert connection.charge_point._response_queue.empty()
        await sim.close()
    finally:
        await p.stop()


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_late_reply_to_a_timed_out_call_is_not_taken_for_the_next_answer(
    tmp_path: Path, version: str
) -> None:
    p = await Platform(tmp_path, ocpp_response_timeout=1.0).start()
    try:
        sim = await online(p, f"CP-LATE-{version}", version)
        sim.silent.add("UnlockConnector")
        status, result = await unlock(p, sim.id)
        assert (status, result["outcome"]) == (504, "timeout")
        # The charger answers the call that timed out, twice, then the next one properly.
        late = sim.received_calls[-1]
        assert late[0] == "UnlockConnector"
        sim.silent.discard("UnlockConnector")
        log = await messages(p, sim.id)
        late_id = next(m["message_id"] for m in log if m["action"] == "UnlockConnector")
        for _ in range(2):
            await sim.send_raw(json.dumps([3, late_id, {"status": "UnlockFailed"}]))
        status, result = await unlock(p, sim.id)
        assert (status, result["status"]) == (200, "Unlocked")
        await sim.close()
    finally:
        await p.stop()


async def messages(platform: Platform, station_id: str) -> list[dict[str, Any]]:
    async with platform.admin() as admin:
        response = await admin.get(f"/stations/{station_id}/messages", params={"limit": 100})
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", list(STRAY))
@pytest.mark.parametrize("version", VERSIONS)
async def test_stray_frames_count_toward_the_flood_limit(
    tmp_path: Path, version: str, kind: str
) -> None:
    p = await Platform(tmp_path, rate_limit=5, rate_burst=10).start()
    try:
        flooder = await booted(p, f"CP-JUNK-{version}", version)
        bystander = await booted(p, f"CP-CALM-{version}", version)
        sent = 0
        for i in range(500):
            try:
                await flooder.send(STRAY[kind](i))
            except ConnectionClosed:
                break
            sent += 1
        answers = 0
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(10):
                for _ in range(sent + 1):
                    await flooder.recv()
                    answers += 1
        assert flooder.close_code == 1008
        # Throttled before the cut: not every frame got an answer (strays get none at all).
        assert answers <= 2 * 10
        assert (await call(bystander, "Heartbeat", {}))[0] == 3
        await bystander.close()
    finally:
        await p.stop()
