"""Transactions a reboot left open (digest quirk 2): asked about on 2.0.1, swept when stale on any version."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from simulators.charge_point import ChargePointSimulator
from tests.helpers.platform import EventWaiter, Platform
from tests.helpers.wire import BOOT201, booted, call, tx_event

NOT_ONGOING = "not ongoing at the charger after a reboot"
STALE = "stale after a reboot"


async def charging(
    platform: Platform, events: EventWaiter, station_id: str, version: str
) -> tuple[ChargePointSimulator, int]:
    """A charger with a transaction on EVSE 1 and a meter reading in it; the platform's id."""
    await platform.add_station(station_id)
    sim = ChargePointSimulator(id=station_id, url=platform.ws_url, ocpp=version)
    await sim.connect()
    assert await sim.boot() == "Accepted"
    await sim.status(1, "Available")
    await sim.start_transaction(1, "REBOOTED")
    started = await events.wait("TransactionStarted", lambda e: e.station_id == station_id)
    await sim.send_meter_values(1, seconds=600)
    return sim, int(started.data["transaction_id"])


async def test_201_a_transaction_lost_in_a_reboot_ends_when_the_charger_says_so(
    platform: Platform,
) -> None:
    events = platform.events()
    sim, tx_id = await charging(platform, events, "CP-LOST-201", "2.0.1")
    reading = sim.meter_wh(1)
    [lost] = sim.forget_transactions()
    assert await sim.reboot() == "Accepted"
    ended = await events.wait("TransactionEnded", lambda e: e.data.get("transaction_id") == tx_id)
    assert ended.data["inferred"] == NOT_ONGOING
    assert (ended.data["stop_reason"], ended.data["meter_stop_wh"]) == ("Other", reading)
    asked = await sim.wait_for_call("GetTransactionStatus")
    assert asked == {"transactionId": lost.transaction_id}
    tx = await platform.csms.store.transaction(tx_id)
    assert tx is not None and tx.status == "ended" and tx.ended_at is not None
    await sim.close()


async def test_201_a_transaction_the_charger_still_runs_stays_open(platform: Platform) -> None:
    events = platform.events()
    sim, tx_id = await charging(platform, events, "CP-KEPT-201", "2.0.1")
    assert await sim.reboot() == "Accepted"
    confirmed = await events.wait(
        "TransactionUpdated",
        lambda e: e.data.get("transaction_id") == tx_id and "confirmed" in e.data,
    )
    assert confirmed.data["confirmed"] == "ongoing at the charger after a reboot"
    # No longer suspect, so no sweep closes it however quiet it goes.
    assert await platform.csms.store.close_stale(timedelta(0)) == 0
    await sim.stop_transaction(1)
    ended = await events.wait("TransactionEnded", lambda e: e.data.get("transaction_id") == tx_id)
    assert ended.data["stop_reason"] == "Local" and "inferred" not in ended.data
    await sim.close()


async def test_201_an_ended_transaction_still_queued_is_left_for_its_ended_message(
    platform: Platform,
) -> None:
    """messagesInQueue: the charger will send the Ended itself; the platform must not guess."""
    events = platform.events()
    ws = await booted(platform, "CP-QUEUED-201", "2.0.1")
    for ocpp_id in ("queued", "gone"):
        body = tx_event("Started", 0, "2026-05-01T10:00:00Z", 5.0, info={"transactionId": ocpp_id})
        body["evse"] = {"id": 1 if ocpp_id == "queued" else 2, "connectorId": 1}
        assert (await call(ws, "TransactionEvent", body))[0] == 3
    ids = {
        e.data["ocpp_transaction_id"]: e.data["transaction_id"]
        for e in [
            await events.wait("TransactionStarted", lambda e: e.station_id == "CP-QUEUED-201")
            for _ in range(2)
        ]
    }
    await ws.send(json.dumps([2, "reboot", "BootNotification", BOOT201]))

    async def reboot_and_answer() -> list[str]:
        """Read the Boot's answer and answer the CALLs that follow until both were asked about."""
        asked: list[str] = []
        booted_again = False
        while len(asked) < 2 or not booted_again:
            frame = json.loads(await ws.recv(decode=True))
            if frame[0] == 3 and frame[1] == "reboot":
                booted_again = frame[2]["status"] == "Accepted"
            if frame[0] != 2:
                continue
            payload: dict[str, Any] = {"status": "Accepted"}
            if frame[2] == "GetTransactionStatus":
                asked.append(frame[3]["transactionId"])
                queued = frame[3]["transactionId"] == "queued"
                payload = {"ongoingIndicator": False, "messagesInQueue": queued}
            await ws.send(json.dumps([3, frame[1], payload]))
        return asked

    answering = asyncio.ensure_future(reboot_and_answer())
    ended = await events.wait("TransactionEnded", lambda e: e.station_id == "CP-QUEUED-201")
    assert ended.data["transaction_id"] == ids["gone"] and ended.data["inferred"] == NOT_ONGOING
    # The platform asks in transaction order, so the queued one was answered before this end.
    assert await answering == ["queued", "gone"]
    queued = await platform.csms.store.transaction(ids["queued"])
    assert queued is not None and queued.status == "active"

    body = tx_event("Ended", 1, "2026-05-01T10:30:00Z", 9.0, info={"transactionId": "queued"})
    body["transactionInfo"]["stoppedReason"] = "PowerLoss"
    assert (await call(ws, "TransactionEvent", body))[0] == 3
    ended = await events.wait(
        "TransactionEnded", lambda e: e.data.get("transaction_id") == ids["queued"]
    )
    assert ended.data["stop_reason"] == "PowerLoss" and ended.data["meter_stop_wh"] == 9000
    assert "inferred" not in ended.data
    await ws.close()


async def test_16_a_quiet_transaction_left_by_a_reboot_is_swept_and_a_busy_one_is_not(
    platform: Platform,
) -> None:
    events = platform.events()
    rebooted, stale_id = await charging(platform, events, "CP-STALE-16", "1.6")
    busy, busy_id = await charging(platform, events, "CP-BUSY-16", "1.6")
    reading = rebooted.meter_wh(1)
    rebooted.forget_transactions()
    assert await rebooted.reboot() == "Accepted"
    boot = await events.wait(
        "StationBooted",
        lambda e: e.station_id == "CP-STALE-16" and bool(e.data.get("suspect_transactions")),
    )
    assert boot.data["suspect_transactions"] == [stale_id]

    store = platform.csms.store
    # Quiet for less than the threshold: left alone.
    assert await store.close_stale(timedelta(minutes=5)) == 0
    assert await store.close_stale(timedelta(0)) == 1
    ended = await events.wait(
        "TransactionEnded", lambda e: e.data.get("transaction_id") == stale_id
    )
    assert ended.data["inferred"] == STALE
    assert (ended.data["stop_reason"], ended.data["meter_stop_wh"]) == ("Other", reading)
    # Never rebooted, so not suspect: however quiet, the sweep leaves it running.
    still = await store.transaction(busy_id)
    assert still is not None and still.status == "active" and not still.suspect
    assert await store.close_stale(timedelta(0)) == 0
    for sim in (rebooted, busy):
        await sim.close()
