"""The command port through the admin API, on simulated 1.6 and 2.0.1 chargers over real WebSockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from simulators.charge_point import ChargePointSimulator
from tests.helpers.platform import VERSIONS, Platform, command, online


@pytest.fixture
async def fast_platform(tmp_path: Path) -> AsyncIterator[Platform]:
    p = await Platform(tmp_path, ocpp_response_timeout=1.0, status_trigger_delay=0.2).start()
    try:
        yield p
    finally:
        await p.stop()


@pytest.mark.parametrize("version", VERSIONS)
async def test_remote_start_and_stop_make_a_transaction(
    fast_platform: Platform, version: str
) -> None:
    events = fast_platform.events()
    sim = await online(fast_platform, f"CP-RS-{version}", version)
    status, result = await command(
        fast_platform,
        sim.id,
        "remote_start",
        {"id_token": "APP123", "evse_id": 1, "remote_start_id": 77},
    )
    assert (status, result["outcome"], result["status"]) == (200, "answered", "Accepted")
    started = await events.wait("TransactionStarted", lambda e: e.station_id == sim.id)
    assert started.data["evse_id"] == 1 and started.data["id_token"] == "APP123"
    # The platform asked for this start, so it accepts the token the charger then presents.
    assert started.data["auth_status"] == "Accepted"
    if version == "2.0.1":
        assert started.data["remote_start_id"] == 77
    status, result = await command(
        fast_platform, sim.id, "remote_stop", {"transaction_id": started.data["transaction_id"]}
    )
    assert (status, result["status"]) == (200, "Accepted")
    ended = await events.wait(
        "TransactionEnded", lambda e: e.data.get("transaction_id") == started.data["transaction_id"]
    )
    assert ended.data["stop_reason"] == "Remote"
    await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_every_command_reaches_the_charger_and_its_answer_comes_back(
    fast_platform: Platform, version: str
) -> None:
    sim = await online(fast_platform, f"CP-ALL-{version}", version)
    expiry = "2030-01-01T00:00:00Z"
    cases: list[tuple[str, dict[str, Any], str | None]] = [
        ("unlock", {"evse_id": 1}, "Unlocked"),
        (
            "reserve",
            {"reservation_id": 5, "expires_at": expiry, "id_token": "RES1", "evse_id": 2},
            "Accepted",
        ),
        ("cancel_reservation", {"reservation_id": 5}, "Accepted"),
        ("cancel_reservation", {"reservation_id": 999}, "Rejected"),
        ("change_availability", {"evse_id": 2, "operative": False}, "Accepted"),
        ("trigger_message", {"message": "Heartbeat"}, "Accepted"),
        ("set_configuration", {"key": "HeartbeatInterval", "value": "120"}, "Accepted"),
        ("get_configuration", {"keys": ["HeartbeatInterval"]}, "Accepted"),
        ("reset", {"type": "Soft"}, "Accepted"),
    ]
    for name, body, expected in cases:
        status, result = await command(fast_platform, sim.id, name, body)
        assert (status, result["status"]) == (200, expected), (name, result)
    async with fast_platform.admin() as admin:
        station = (await admin.get(f"/stations/{sim.id}")).json()
    assert {c["evse_id"]: c["availability"] for c in station["connectors"]}[2] == "Inoperative"
    actions = [action for action, _ in sim.received_calls]
    for action in (
        "UnlockConnector",
        "ReserveNow",
        "CancelReservation",
        "ChangeAvailability",
        "TriggerMessage",
        "Reset",
    ):
        assert action in actions
    await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_the_authorization_cache_is_cleared_on_both_versions(
    fast_platform: Platform, version: str
) -> None:
    sim = await online(fast_platform, f"CP-CC-{version}", version)
    status, result = await command(fast_platform, sim.id, "clear_cache", {})
    assert (status, result["status"]) == (200, "Accepted")
    assert ("ClearCache", {}) in sim.received_calls
    await sim.close()


async def test_a_2_0_1_charger_takes_connector_level_and_typed_commands(
    fast_platform: Platform,
) -> None:
    sim = await online(fast_platform, "CP-CONN", "2.0.1")
    body = {"evse_id": 1, "connector_id": 1, "operative": False}
    status, result = await command(fast_platform, sim.id, "change_availability", body)
    assert (status, result["status"]) == (200, "Accepted")
    expiry = "2030-01-01T00:00:00Z"
    reserve = {
        "reservation_id": 9,
        "expires_at": expiry,
        "id_token": "T",
        "connector_type": "cType2",
    }
    status, result = await command(fast_platform, sim.id, "reserve", reserve)
    assert status == 200, result
    sent = dict(sim.received_calls)
    assert sent["ChangeAvailability"]["evse"] == {"id": 1, "connectorId": 1}
    assert sent["ReserveNow"]["connectorType"] == "cType2" and "evseId" not in sent["ReserveNow"]
    # Whether the charger still holds messages of a transaction, or of any.
    status, result = await command(fast_platform, sim.id, "get_transaction_status", {})
    assert (status, result["data"]["messages_in_queue"]) == (200, False)
    assert dict(sim.received_calls)["GetTransactionStatus"] == {}  # of any transaction
    await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_offline_timeout_and_call_error_are_distinct_outcomes(
    fast_platform: Platform, version: str
) -> None:
    await fast_platform.add_station(f"CP-GONE-{version}")
    status, result = await command(fast_platform, f"CP-GONE-{version}", "unlock", {"evse_id": 1})
    assert (status, result["outcome"]) == (409, "offline")

    sim = await online(fast_platform, f"CP-SLOW-{version}", version)
    sim.silent.add("UnlockConnector")
    status, result = await command(fast_platform, sim.id, "unlock", {"evse_id": 1})
    assert (status, result["outcome"]) == (504, "timeout")

    sim.errors["Reset"] = "NotSupported"
    status, result = await command(fast_platform, sim.id, "reset", {"type": "Hard"})
    assert (status, result["outcome"], result["error_code"]) == (502, "call_error", "NotSupported")

    # After all that, the charger still answers.
    status, result = await command(
        fast_platform, sim.id, "trigger_message", {"message": "StatusNotification", "evse_id": 1}
    )
    assert (status, result["status"]) == (200, "Accepted")
    await sim.close()


async def test_a_charger_that_drops_mid_call_is_offline_not_a_hang(tmp_path: Path) -> None:
    p = await Platform(tmp_path, ocpp_response_timeout=30.0).start()
    try:
        sim = await online(p, "CP-DROP", "1.6")
        sim.silent.add("UnlockConnector")
        pending = asyncio.create_task(command(p, sim.id, "unlock", {"evse_id": 1}))
        await sim.wait_for_call("UnlockConnector")
        await sim.close()
        status, result = await asyncio.wait_for(pending, 10)
        assert (status, result["outcome"]) == (409, "offline")
    finally:
        await p.stop()


async def test_one_outstanding_call_per_charger(fast_platform: Platform) -> None:
    sim = await online(fast_platform, "CP-SERIAL", "1.6")
    results = await asyncio.gather(
        *(
            command(fast_platform, sim.id, "trigger_message", {"message": "Heartbeat"})
            for _ in range(5)
        )
    )
    assert all(status == 200 for status, _ in results)
    async with fast_platform.admin() as admin:
        log = (await admin.get(f"/stations/{sim.id}/messages", params={"limit": 200})).json()
    ours = [m for m in reversed(log) if m["action"] == "TriggerMessage"]
    heartbeats = [m for m in ours if m["message_type"] == 2 and "Heartbeat" in m["payload"]]
    assert len(heartbeats) == 5
    # out CALL, in CALLRESULT, out CALL, ...: never two of our CALLs before a reply (the status
    # trigger sent after boot may be among them when the charger's statuses come late)
    pairs = len(ours) // 2
    assert [(m["direction"], m["message_type"]) for m in ours] == [("out", 2), ("in", 3)] * pairs
    await sim.close()


async def test_status_is_asked_for_when_a_charger_reports_none_after_boot(
    fast_platform: Platform,
) -> None:
    await fast_platform.add_station("CP-QUIET")
    sim = ChargePointSimulator(id="CP-QUIET", url=fast_platform.ws_url, ocpp="2.0.1")
    await sim.connect()
    await sim.boot()
    trigger = await sim.wait_for_call("TriggerMessage")
    assert trigger["requestedMessage"] == "StatusNotification"
    await sim.close()


@pytest.mark.parametrize(
    ("name", "body", "status"),
    [
        ("fly_to_the_moon", {}, 404),
        ("unlock", {"evse_id": 0}, 422),
        ("unlock", {"evse": 1}, 422),
        ("reserve", {"reservation_id": 1, "expires_at": "tomorrow", "id_token": "X"}, 422),
        ("remote_stop", {"transaction_id": 424242}, 422),
        ("remote_start", {"id_token": "A" * 25, "evse_id": 1}, 422),  # longer than a 1.6 idTag
        ("trigger_message", {"message": "TransactionEvent"}, 422),  # a 2.0.1 message on 1.6
    ],
)
async def test_bad_commands_get_problem_documents(
    fast_platform: Platform, name: str, body: dict[str, Any], status: int
) -> None:
    sim = await online(fast_platform, "CP-BAD", "1.6")
    got, problem = await command(fast_platform, sim.id, name, body)
    assert got == status and problem["status"] == status and problem["title"]
    got, problem = await command(fast_platform, "NO-SUCH-CHARGER", "unlock", {"evse_id": 1})
    assert got == 404
    await sim.close()
