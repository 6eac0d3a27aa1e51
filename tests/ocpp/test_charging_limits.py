"""Charging limits through the command port, on simulated 1.6 and 2.0.1 chargers over real WebSockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulators.charge_point import ChargePointSimulator
from tests.helpers.platform import VERSIONS, EventWaiter, Platform, command, online


@pytest.fixture
async def fast_platform(tmp_path: Path) -> AsyncIterator[Platform]:
    p = await Platform(tmp_path, ocpp_response_timeout=2.0, status_trigger_delay=0.2).start()
    try:
        yield p
    finally:
        await p.stop()


async def charging(
    platform: Platform, events: EventWaiter, station_id: str, version: str
) -> tuple[ChargePointSimulator, int]:
    """An 11 kW charger with a transaction on EVSE 1; the platform's id of that transaction."""
    sim = await online(platform, station_id, version, power_w=11000)
    await sim.start_transaction(1, "LIMITED")
    started = await events.wait("TransactionStarted", lambda e: e.station_id == station_id)
    return sim, int(started.data["transaction_id"])


def profile_on_the_wire(sim: ChargePointSimulator) -> tuple[dict[str, Any], dict[str, Any]]:
    """The last SetChargingProfile the charger received: its profile and its one schedule."""
    payload = [p for action, p in sim.received_calls if action == "SetChargingProfile"][-1]
    if sim.ocpp == "1.6":
        profile = payload["csChargingProfiles"]
        return profile, profile["chargingSchedule"]
    profile = payload["chargingProfile"]
    return profile, profile["chargingSchedule"][0]


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_limit_caps_the_energy_until_it_is_cleared(
    fast_platform: Platform, version: str
) -> None:
    events = fast_platform.events()
    sim, tx_id = await charging(fast_platform, events, f"CP-LIM-{version}", version)
    status, result = await command(
        fast_platform,
        sim.id,
        "set_charging_limit",
        {"evse_id": 1, "transaction_id": tx_id, "limit_w": 3700, "profile_id": 7},
    )
    assert (status, result["status"]) == (200, "Accepted")
    profile, schedule = profile_on_the_wire(sim)
    ocpp_tx_id = sim.transactions[1].transaction_id
    if version == "1.6":
        assert profile["chargingProfileId"] == 7 and profile["transactionId"] == int(ocpp_tx_id)
    else:
        assert profile["id"] == 7 and profile["transactionId"] == ocpp_tx_id
    assert (profile["chargingProfilePurpose"], profile["stackLevel"]) == ("TxProfile", 0)
    assert profile["chargingProfileKind"] == "Absolute" and "startSchedule" in schedule
    assert schedule["chargingRateUnit"] == "W" and "duration" not in schedule
    assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 3700.0}]
    assert sim.charging_limits[1] == {"limit_w": 3700.0, "until": None, "profile_id": 7}

    await sim.send_meter_values(1, seconds=3600)  # an hour at 3.7 kW
    status, result = await command(fast_platform, sim.id, "clear_charging_limit", {"evse_id": 1})
    assert (status, result["status"]) == (200, "Accepted")
    assert sim.charging_limits == {}
    await sim.send_meter_values(1, seconds=3600)  # an hour at the full 11 kW
    status, result = await command(fast_platform, sim.id, "clear_charging_limit", {"evse_id": 1})
    assert (status, result["status"]) == (200, "Unknown")  # nothing left to clear

    await sim.stop_transaction(1)
    ended = await events.wait("TransactionEnded", lambda e: e.data.get("transaction_id") == tx_id)
    energy = ended.data["meter_stop_wh"] - ended.data["meter_start_wh"]
    assert energy == pytest.approx(3700 + 11000, abs=2)
    async with fast_platform.admin() as admin:
        detail = (await admin.get(f"/transactions/{tx_id}")).json()
    power = [s["value"] for s in detail["samples"] if s["measurand"] == "Power.Active.Import"]
    assert power == [3700.0, 11000.0]
    await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_limit_with_an_end_caps_only_until_then(
    fast_platform: Platform, version: str
) -> None:
    events = fast_platform.events()
    sim, tx_id = await charging(fast_platform, events, f"CP-UNTIL-{version}", version)
    until = datetime.now(UTC) + timedelta(minutes=30)
    status, result = await command(
        fast_platform,
        sim.id,
        "set_charging_limit",
        {"evse_id": 1, "transaction_id": tx_id, "limit_w": 3700, "until": until.isoformat()},
    )
    assert (status, result["status"]) == (200, "Accepted")
    _, schedule = profile_on_the_wire(sim)
    assert schedule["duration"] == pytest.approx(1800, abs=2)
    assert abs(sim.charging_limits[1]["until"] - until) < timedelta(seconds=2)
    start_wh = sim.meter_wh(1)
    await sim.send_meter_values(1, seconds=3600)  # half an hour capped, half an hour not
    assert sim.meter_wh(1) - start_wh == pytest.approx(3700 / 2 + 11000 / 2, abs=10)
    await sim.stop_transaction(1)
    ended = await events.wait("TransactionEnded", lambda e: e.data.get("transaction_id") == tx_id)
    assert ended.data["meter_stop_wh"] - ended.data["meter_start_wh"] == pytest.approx(
        3700 / 2 + 11000 / 2, abs=10
    )
    await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_charger_without_smart_charging_answers_with_a_call_error(
    fast_platform: Platform, version: str
) -> None:
    events = fast_platform.events()
    sim, tx_id = await charging(fast_platform, events, f"CP-DUMB-{version}", version)
    sim.smart_charging_supported = False
    body = {"evse_id": 1, "transaction_id": tx_id, "limit_w": 3700}
    for name, payload in (("set_charging_limit", body), ("clear_charging_limit", {"evse_id": 1})):
        status, result = await command(fast_platform, sim.id, name, payload)
        assert (status, result["outcome"], result["error_code"]) == (
            502,
            "call_error",
            "NotSupported",
        ), name
    assert sim.charging_limits == {}
    await sim.close()


async def test_a_limit_for_a_transaction_not_running_there_is_refused(
    fast_platform: Platform,
) -> None:
    events = fast_platform.events()
    sim, tx_id = await charging(fast_platform, events, "CP-LIM-BAD", "1.6")
    other, other_tx_id = await charging(fast_platform, events, "CP-LIM-OTHER", "1.6")
    await other.stop_transaction(1)
    await events.wait("TransactionEnded", lambda e: e.data.get("transaction_id") == other_tx_id)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    cases: list[dict[str, Any]] = [
        {"evse_id": 1, "transaction_id": 424242, "limit_w": 3700},  # no such transaction
        {"evse_id": 1, "transaction_id": other_tx_id, "limit_w": 3700},  # another charger's
        {"evse_id": 2, "transaction_id": tx_id, "limit_w": 3700},  # runs on EVSE 1
        {"evse_id": 1, "transaction_id": tx_id, "limit_w": 3700, "until": past},
        {"evse_id": 1, "transaction_id": tx_id, "limit_w": 0},
        {"evse_id": 0, "transaction_id": tx_id, "limit_w": 3700},
    ]
    for body in cases:
        status, problem = await command(fast_platform, sim.id, "set_charging_limit", body)
        assert status == 422, (body, problem)
    # The one on the other charger has ended there: no limit for it either.
    status, _ = await command(
        fast_platform,
        other.id,
        "set_charging_limit",
        {"evse_id": 1, "transaction_id": other_tx_id, "limit_w": 3700},
    )
    assert status == 422
    assert "SetChargingProfile" not in {action for action, _ in sim.received_calls}
    assert sim.charging_limits == {}
    await sim.close()
    await other.close()
