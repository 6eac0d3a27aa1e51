"""Whole charging sessions from simulated chargers, and the platform restarting under them."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.charge_point import ChargePointSimulator
from tests.helpers.platform import Platform


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_full_charging_session(platform: Platform, version: str) -> None:
    async with platform.admin() as admin:
        assert (await admin.post("/tokens", json={"uid": "RFID-0001"})).status_code == 201
    await platform.add_station(f"CP-S-{version}", password="session-pass-00001")
    events = platform.events()
    async with ChargePointSimulator(
        id=f"CP-S-{version}",
        url=platform.ws_url,
        ocpp=version,
        password="session-pass-00001",
        power_w=11000,
    ) as sim:
        assert await sim.boot() == "Accepted"
        await sim.status(1, "Available")
        tx = await sim.run_session(1, "RFID-0001", meter_updates=3, seconds_per_update=600)
        assert tx.status == "Accepted"
        ended = await events.wait("TransactionEnded", lambda e: e.station_id == sim.id)
    # The charger hung up; the platform records that once the socket's close reaches it.
    await events.wait("StationDisconnected", lambda e: e.station_id == sim.id)
    energy = ended.data["meter_stop_wh"] - ended.data["meter_start_wh"]
    assert energy == pytest.approx(11000 * 1800 / 3600, rel=0.02)  # 11 kW for half an hour
    async with platform.admin() as admin:
        station = (await admin.get(f"/stations/{sim.id}")).json()
        txs = (await admin.get(f"/stations/{sim.id}/transactions")).json()
        detail = (await admin.get(f"/transactions/{txs[0]['id']}")).json()
    assert station["vendor"] == "CPOSim" and station["online"] is False
    assert station["connectors"][0]["status"] == "Available"
    assert txs[0]["status"] == "ended" and txs[0]["auth_status"] == "Accepted"
    measurands = {s["measurand"] for s in detail["samples"]}
    assert {"Energy.Active.Import.Register", "Power.Active.Import", "SoC"} <= measurands


async def test_restart_keeps_state_and_chargers_carry_on(tmp_path: Path) -> None:
    first = await Platform(tmp_path).start()
    await first.add_station("CP-R", password="restart-pass-00001")
    sim = ChargePointSimulator(
        id="CP-R", url=first.ws_url, ocpp="1.6", password="restart-pass-00001"
    )
    await sim.connect()
    await sim.boot()
    tx = await sim.start_transaction(1, "ANY-TAG")
    await sim.send_meter_values(1, seconds=600)
    await first.stop()
    await sim.wait_closed()

    second = await Platform(tmp_path, port=first.port).start()
    try:
        sim.url = second.ws_url
        await sim.connect()
        # No BootNotification on a plain reconnect: the platform remembers it accepted this charger.
        assert await sim.heartbeat()
        await sim.stop_transaction(1)
        async with second.admin() as admin:
            txs = (await admin.get("/stations/CP-R/transactions")).json()
        assert [t["ocpp_transaction_id"] for t in txs] == [tx.transaction_id]
        assert txs[0]["status"] == "ended" and txs[0]["meter_stop_wh"] > txs[0]["meter_start_wh"]
        await sim.close()
    finally:
        await second.stop()
