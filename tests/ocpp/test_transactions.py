"""Transactions as real chargers send them: retries, odd ids, resets, offline replays, out of order."""

from __future__ import annotations

from typing import Any

from tests.helpers.platform import Platform
from tests.helpers.wire import booted, call, mv, open_raw, start16, tx_event


async def admin_get(platform: Platform, path: str) -> Any:
    async with platform.admin() as admin:
        response = await admin.get(path)
        assert response.status_code == 200, response.text
        return response.json()


async def add_token(platform: Platform, uid: str, status: str = "Accepted") -> None:
    async with platform.admin() as admin:
        assert (await admin.post("/tokens", json={"uid": uid, "status": status})).status_code == 201


async def test_16_session_is_stored_with_meter_data_in_wh(platform: Platform) -> None:
    await add_token(platform, "04a1b2c3")
    events = platform.events()
    ws = await booted(platform, "CP16")
    assert (
        await call(
            ws,
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Preparing",
                "timestamp": "2026-05-01T10:00:00Z",
            },
        )
    )[0] == 3
    start = await call(
        ws,
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": "04A1B2C3",
            "meterStart": 1000,
            "timestamp": "2026-05-01T10:00:05Z",
        },
    )
    assert start[2]["idTagInfo"]["status"] == "Accepted"  # case-insensitive match
    tx_id = start[2]["transactionId"]
    await call(
        ws,
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": tx_id,
            "meterValue": [mv("2026-05-01T10:30:00Z", 6.5, "kWh")],
        },
    )
    stop = await call(
        ws,
        "StopTransaction",
        {
            "transactionId": tx_id,
            "meterStop": 12000,
            "timestamp": "2026-05-01T11:00:00Z",
            "reason": "EVDisconnected",
            "idTag": "04A1B2C3",
            "transactionData": [mv("2026-05-01T11:00:00Z", 12000, context="Transaction.End")],
        },
    )
    assert stop[2]["idTagInfo"]["status"] == "Accepted"
    ended = await events.wait("TransactionEnded", lambda e: e.data.get("transaction_id") == tx_id)
    assert ended.data["meter_start_wh"] == 1000 and ended.data["meter_stop_wh"] == 12000
    tx = await admin_get(platform, f"/transactions/{tx_id}")
    assert (tx["status"], tx["stop_reason"], tx["evse_id"]) == ("ended", "EVDisconnected", 1)
    assert [
        s["value"] for s in tx["samples"] if s["measurand"] == "Energy.Active.Import.Register"
    ] == [6500.0, 12000.0]
    station = await admin_get(platform, "/stations/CP16")
    assert (
        station["connectors"][0]["status"] == "Occupied"
        and station["connectors"][0]["status_detail"] == "Preparing"
    )
    await ws.close()


async def test_16_retried_start_gets_the_same_transaction(platform: Platform) -> None:
    ws = await booted(platform, "CP-RETRY")
    body = {"connectorId": 1, "idTag": "ANY", "meterStart": 50, "timestamp": "2026-05-01T10:00:00Z"}
    first, second = (
        await call(ws, "StartTransaction", body),
        await call(ws, "StartTransaction", body),
    )
    assert first[2]["transactionId"] == second[2]["transactionId"]
    assert first[2]["idTagInfo"]["status"] == "Invalid"  # unknown token: refused, but it has an id
    assert len(await admin_get(platform, "/stations/CP-RETRY/transactions")) == 1
    await ws.close()


async def test_16_stop_with_transaction_id_minus_one_is_matched_by_token(
    platform: Platform,
) -> None:
    ws = await booted(platform, "CP-GOE")
    start = await call(
        ws,
        "StartTransaction",
        {"connectorId": 2, "idTag": "TAG-9", "meterStart": 0, "timestamp": "2026-05-01T10:00:00Z"},
    )
    await call(
        ws,
        "StopTransaction",
        {
            "transactionId": -1,
            "meterStop": 4200,
            "timestamp": "2026-05-01T10:20:00Z",
            "idTag": "tag-9",
        },
    )
    tx = await admin_get(platform, f"/transactions/{start[2]['transactionId']}")
    assert (tx["status"], tx["meter_stop_wh"]) == ("ended", 4200)
    await ws.close()


async def test_16_register_reset_is_clamped_to_the_highest_reading(platform: Platform) -> None:
    events = platform.events()
    ws = await booted(platform, "CP-RESET")
    start = await call(
        ws,
        "StartTransaction",
        {"connectorId": 1, "idTag": "X", "meterStart": 90_000, "timestamp": "2026-05-01T10:00:00Z"},
    )
    tx_id = start[2]["transactionId"]
    await call(
        ws,
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": tx_id,
            "meterValue": [mv("2026-05-01T10:10:00Z", 95_000)],
        },
    )
    await call(
        ws,
        "StopTransaction",
        {"transactionId": tx_id, "meterStop": 10, "timestamp": "2026-05-01T10:20:00Z"},
    )
    ended = await events.wait("TransactionEnded", lambda e: e.data.get("transaction_id") == tx_id)
    assert ended.data["meter_stop_wh"] == 95_000 and ended.data["register_reset"] is True
    await ws.close()


async def test_16_retried_stop_ends_once(platform: Platform) -> None:
    events = platform.events()
    ws = await booted(platform, "CP-STOP2")
    tx_id = await start16(
        ws, {"connectorId": 1, "idTag": "X", "meterStart": 0, "timestamp": "2026-05-01T10:00:00Z"}
    )
    stop = {"transactionId": tx_id, "meterStop": 100, "timestamp": "2026-05-01T10:05:00Z"}
    assert (await call(ws, "StopTransaction", stop))[0] == 3
    assert (await call(ws, "StopTransaction", stop))[0] == 3
    await call(ws, "Heartbeat", {})
    await events.wait("TransactionEnded", lambda e: e.data.get("transaction_id") == tx_id)
    ended = [e for e in events.seen if e.type == "TransactionEnded"]
    assert ended == []
    await ws.close()


async def test_16_stale_status_does_not_overwrite_a_newer_one(platform: Platform) -> None:
    ws = await booted(platform, "CP-STALE")
    await call(
        ws,
        "StatusNotification",
        {
            "connectorId": 1,
            "errorCode": "NoError",
            "status": "Available",
            "timestamp": "2026-05-01T10:00:00Z",
        },
    )
    await call(
        ws,
        "StatusNotification",
        {
            "connectorId": 1,
            "errorCode": "GroundFailure",
            "status": "Faulted",
            "timestamp": "2026-05-01T09:00:00Z",
        },
    )
    await call(
        ws,
        "StatusNotification",
        {
            "connectorId": 0,
            "errorCode": "NoError",
            "status": "Unavailable",
            "timestamp": "2026-05-01T10:00:00Z",
            "info": "null",
        },
    )
    station = await admin_get(platform, "/stations/CP-STALE")
    assert station["connectors"][0]["status"] == "Available"
    assert station["status"] == "Unavailable"
    await ws.close()


async def test_16_reboot_marks_open_transactions_and_a_new_start_supersedes(
    platform: Platform,
) -> None:
    events = platform.events()
    ws = await booted(platform, "CP-BOOT")
    old = await start16(
        ws, {"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "2026-05-01T10:00:00Z"}
    )
    await call(
        ws, "MeterValues", {"connectorId": 1, "meterValue": [mv("2026-05-01T10:10:00Z", 700)]}
    )
    from tests.helpers.wire import BOOT16

    await call(ws, "BootNotification", BOOT16)
    booted_event = await events.wait(
        "StationBooted",
        lambda e: e.station_id == "CP-BOOT" and bool(e.data.get("suspect_transactions")),
    )
    assert booted_event.data["suspect_transactions"] == [old]
    await call(
        ws,
        "StartTransaction",
        {"connectorId": 1, "idTag": "B", "meterStart": 800, "timestamp": "2026-05-01T11:00:00Z"},
    )
    ended = await events.wait("TransactionEnded", lambda e: e.data.get("transaction_id") == old)
    assert ended.data["inferred"] and ended.data["meter_stop_wh"] == 700
    await ws.close()


async def test_201_events_out_of_order_make_one_transaction(platform: Platform) -> None:
    events = platform.events()
    ws = await booted(platform, "CP201", "2.0.1")
    token = {"idToken": "DEADBEEF", "type": "ISO14443"}
    updated = await call(
        ws, "TransactionEvent", tx_event("Updated", 1, "2026-05-01T10:10:00Z", 3.0, offline=True)
    )
    assert updated[0] == 3
    started = await call(
        ws,
        "TransactionEvent",
        tx_event(
            "Started",
            0,
            "2026-05-01T10:00:00Z",
            1.0,
            idToken=token,
            evse={"id": 1, "connectorId": 1},
            offline=True,
        ),
    )
    assert started[2]["idTokenInfo"]["status"] == "Invalid"  # unknown to the local rule
    ended = await call(
        ws,
        "TransactionEvent",
        tx_event("Ended", 3, "2026-05-01T10:30:00Z", 9.0, info={"stoppedReason": "EVDisconnected"}),
    )
    assert ended[0] == 3
    again = await call(
        ws,
        "TransactionEvent",
        tx_event("Ended", 3, "2026-05-01T10:30:00Z", 9.0, info={"stoppedReason": "EVDisconnected"}),
    )
    assert again[0] == 3
    end = await events.wait(
        "TransactionEnded", lambda e: e.data.get("ocpp_transaction_id") == "tx-ooo-1"
    )
    assert end.data["meter_start_wh"] == 1000 and end.data["meter_stop_wh"] == 9000
    assert end.data["seq_gaps"] is True and end.data["offline"] is True
    assert end.data["started_at"].startswith("2026-05-01T10:00:00")
    txs = await admin_get(platform, "/stations/CP201/transactions")
    assert len(txs) == 1 and txs[0]["evse_id"] == 1 and txs[0]["id_token"] == "DEADBEEF"
    await ws.close()


async def test_201_status_and_authorize(platform: Platform) -> None:
    await add_token(platform, "BLOCKED1", status="Blocked")
    ws = await booted(platform, "CP201-A", "2.0.1")
    status = {
        "timestamp": "2026-05-01T10:00:00Z",
        "connectorStatus": "Occupied",
        "evseId": 2,
        "connectorId": 1,
    }
    assert (await call(ws, "StatusNotification", status))[0] == 3
    answer = await call(ws, "Authorize", {"idToken": {"idToken": "blocked1", "type": "ISO14443"}})
    assert answer[2]["idTokenInfo"]["status"] == "Blocked"
    report = {
        "requestId": 1,
        "generatedAt": "2026-05-01T10:00:00Z",
        "seqNo": 0,
        "reportData": [
            {
                "component": {"name": "Connector", "evse": {"id": 3, "connectorId": 1}},
                "variable": {"name": "ConnectorType"},
                "variableAttribute": [{"value": "cType2"}],
            }
        ],
    }
    assert (await call(ws, "NotifyReport", report))[0] == 3
    station = await admin_get(platform, "/stations/CP201-A")
    assert [(c["evse_id"], c["status"]) for c in station["connectors"]] == [
        (2, "Occupied"),
        (3, None),
    ]
    await ws.close()


async def test_notifications_become_events(platform: Platform) -> None:
    events = platform.events()
    ws = await booted(platform, "CP-NOTE")
    assert (await call(ws, "FirmwareStatusNotification", {"status": "Downloading"}))[0] == 3
    assert (await call(ws, "DiagnosticsStatusNotification", {"status": "Uploaded"}))[0] == 3
    assert (
        await call(
            ws,
            "SecurityEventNotification",
            {"type": "FirmwareUpdated", "timestamp": "2026-05-01T10:00:00Z"},
        )
    )[0] == 3
    transfer = await call(ws, "DataTransfer", {"vendorId": "com.acme", "data": "{}"})
    assert transfer[2]["status"] == "UnknownVendorId"
    await events.wait("DataTransferReceived", lambda e: e.data["vendor_id"] == "com.acme")
    station = await admin_get(platform, "/stations/CP-NOTE")
    assert (station["firmware_status"], station["diagnostics_status"]) == (
        "Downloading",
        "Uploaded",
    )
    await ws.close()


async def test_kwh_readings_labelled_wh_are_flagged(platform: Platform) -> None:
    events = platform.events()
    ws = await booted(platform, "CP-OPENEVSE")
    tx_id = await start16(
        ws, {"connectorId": 1, "idTag": "X", "meterStart": 10, "timestamp": "2026-05-01T10:00:00Z"}
    )
    power = {
        "timestamp": "2026-05-01T10:30:00Z",
        "sampledValue": [
            {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "15.5", "unit": "Wh"},
        ],
    }
    await call(ws, "MeterValues", {"connectorId": 1, "transactionId": tx_id, "meterValue": [power]})
    await call(
        ws,
        "StopTransaction",
        {"transactionId": tx_id, "meterStop": 21, "timestamp": "2026-05-01T11:00:00Z"},
    )
    ended = await events.wait("TransactionEnded", lambda e: e.data.get("transaction_id") == tx_id)
    assert ended.data["energy_unit_suspect"] is True
    # The operator tells the platform; from then on the readings are taken as kWh.
    async with platform.admin() as admin:
        assert (
            await admin.patch("/stations/CP-OPENEVSE", json={"energy_unit_override": "kWh"})
        ).status_code == 200
        assert (
            await admin.patch("/stations/CP-OPENEVSE", json={"energy_unit_override": "MWh"})
        ).status_code == 422
    await ws.close()
    ws = await open_raw(platform.ws_url, "CP-OPENEVSE")
    tx_id = await start16(
        ws, {"connectorId": 1, "idTag": "X", "meterStart": 21, "timestamp": "2026-05-01T12:00:00Z"}
    )
    await call(
        ws,
        "StopTransaction",
        {"transactionId": tx_id, "meterStop": 32, "timestamp": "2026-05-01T13:00:00Z"},
    )
    ended = await events.wait("TransactionEnded", lambda e: e.data.get("transaction_id") == tx_id)
    assert (ended.data["meter_start_wh"], ended.data["meter_stop_wh"]) == (21000, 32000)
    await ws.close()
