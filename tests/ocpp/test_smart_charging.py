"""Smart charging (OCPP 1.6 Smart Charging profile, 2.0.1 block K): charging profiles of every
purpose and kind set, kept as what each charger should hold, read back from the charger and
cleared; the composite schedule; limits the charger reports from elsewhere."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.platform import VERSIONS, Platform, command, online
from tests.helpers.wire import basic, call, open_raw

STATION_MAX = {"id": 10, "purpose": "StationMax", "periods": [{"start_period": 0, "limit": 22000}]}
NIGHTLY = {
    "id": 11,
    "purpose": "TxDefault",
    "kind": "Recurring",
    "recurrency": "Daily",
    "starts_at": "2030-01-01T22:00:00Z",
    "duration": 28800,
    "periods": [{"start_period": 0, "limit": 7400}, {"start_period": 3600, "limit": 11000}],
}


async def held(platform: Platform, station_id: str) -> list[dict[str, Any]]:
    async with platform.admin() as admin:
        response = await admin.get(f"/stations/{station_id}/charging-profiles")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", VERSIONS)
async def test_tc_k_01_profiles_of_each_purpose_are_set_kept_and_cleared(
    platform: Platform, version: str
) -> None:
    sim = await online(platform, f"CP-SC-{version}", version)
    for evse, profile in ((0, STATION_MAX), (1, NIGHTLY)):
        body = {"evse_id": evse, "profile": profile}
        status, result = await command(platform, sim.id, "set_charging_profile", body)
        assert (status, result["status"]) == (200, "Accepted"), result
    assert [
        (p["evse_id"], p["profile_id"], p["purpose"]) for p in await held(platform, sim.id)
    ] == [
        (0, 10, "StationMax"),
        (1, 11, "TxDefault"),
    ]
    sent = [p for action, p in sim.received_calls if action == "SetChargingProfile"]
    if version == "1.6":
        assert sent[0]["csChargingProfiles"]["chargingProfilePurpose"] == "ChargePointMaxProfile"
        assert sent[1]["csChargingProfiles"]["recurrencyKind"] == "Daily"
    else:
        assert sent[0]["chargingProfile"]["chargingProfilePurpose"] == "ChargingStationMaxProfile"
        assert sent[1]["chargingProfile"]["chargingSchedule"][0]["duration"] == 28800

    # The charger follows the lowest of what bounds the EVSE.
    body = {"evse_id": 1, "duration": 3600}
    status, result = await command(platform, sim.id, "get_composite_schedule", body)
    assert (status, result["status"]) == (200, "Accepted")
    schedule = result["data"].get("charging_schedule") or result["data"]["schedule"]
    assert schedule["charging_schedule_period"][0]["limit"] == 7400

    # A newer profile of the same purpose and stack level on the EVSE replaces the older.
    newer = NIGHTLY | {"id": 12, "periods": [{"start_period": 0, "limit": 3700}]}
    status, _ = await command(
        platform, sim.id, "set_charging_profile", {"evse_id": 1, "profile": newer}
    )
    assert [p["profile_id"] for p in await held(platform, sim.id)] == [10, 12]

    status, result = await command(platform, sim.id, "clear_charging_profile", {"id": 12})
    assert (status, result["status"]) == (200, "Accepted")
    assert [p["profile_id"] for p in await held(platform, sim.id)] == [10]
    status, result = await command(
        platform, sim.id, "clear_charging_profile", {"purpose": "StationMax"}
    )
    assert (status, result["status"]) == (200, "Accepted")
    assert await held(platform, sim.id) == []
    await sim.close()


async def test_tc_k_29_a_2_0_1_charger_reports_the_profiles_it_holds(platform: Platform) -> None:
    sim = await online(platform, "CP-SC-REP", "2.0.1")
    await command(platform, sim.id, "set_charging_profile", {"evse_id": 0, "profile": STATION_MAX})
    events = platform.events()
    status, result = await command(platform, sim.id, "get_charging_profiles", {})
    assert (status, result["status"]) == (200, "Accepted")
    told = await events.wait("ChargingProfilesReported", lambda e: e.station_id == sim.id)
    assert told.data["request_id"] == result["data"]["request_id"]
    assert [p["id"] for p in told.data["profiles"]] == [10]
    await sim.close()


async def test_limits_from_elsewhere_are_kept_as_events(platform: Platform) -> None:
    await platform.add_station("CP-SC-EMS", password="charger-secret-1")
    events = platform.events()
    async with await open_raw(
        platform.ws_url, "CP-SC-EMS", ["ocpp2.0.1"], headers=basic("CP-SC-EMS", "charger-secret-1")
    ) as ws:
        await call(
            ws,
            "BootNotification",
            {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"},
        )
        limit = {
            "chargingLimit": {"chargingLimitSource": "EMS", "isGridCritical": True},
            "evseId": 1,
        }
        assert (await call(ws, "NotifyChargingLimit", limit))[0] == 3
        told = await events.wait("ChargingLimitChanged", lambda e: e.station_id == "CP-SC-EMS")
        assert told.data["limit"]["charging_limit_source"] == "EMS"
        cleared = {"chargingLimitSource": "EMS", "evseId": 1}
        assert (await call(ws, "ClearedChargingLimit", cleared))[0] == 3
        needs = {
            "evseId": 1,
            "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"},
        }
        answer = await call(ws, "NotifyEVChargingNeeds", needs)
        assert answer[2]["status"] == "Rejected"  # no schedule of ours to propose


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"evse_id": 1, "profile": STATION_MAX}, "set on"),  # StationMax on an EVSE
        ({"evse_id": 1, "profile": NIGHTLY | {"recurrency": None}}, "recurrency"),
        ({"evse_id": 1, "profile": STATION_MAX | {"purpose": "Tx"}}, "transaction_id"),
        ({"evse_id": 1, "profile": NIGHTLY | {"transaction_id": 5}}, "only a Tx profile"),
        (
            {"evse_id": 1, "profile": STATION_MAX | {"periods": [{"start_period": 5, "limit": 1}]}},
            "start at 0",
        ),
        (
            {
                "evse_id": 1,
                "profile": STATION_MAX | {"periods": [{"start_period": 0, "limit": -1}]},
            },
            "greater than or equal",
        ),
        (
            {
                "evse_id": 1,
                "profile": STATION_MAX | {"purpose": "Tx", "transaction_id": 999_999, "id": 3},
            },
            "no running transaction",
        ),
    ],
)
async def test_bad_profiles_are_refused_before_the_charger_is_asked(
    platform: Platform, body: dict[str, Any], words: str
) -> None:
    sim = await online(platform, "CP-SC-BAD", "2.0.1")
    before = len(sim.received_calls)
    status, result = await command(platform, sim.id, "set_charging_profile", body)
    assert status == 422 and words in str(result), result
    assert sim.received_calls[before:] == []
    await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_tc_k_05_a_remote_start_carries_a_profile_for_its_transaction(
    platform: Platform, version: str
) -> None:
    sim = await online(platform, f"CP-SC-RS-{version}", version)
    capped = {"id": 20, "purpose": "Tx", "periods": [{"start_period": 0, "limit": 6000}]}
    body = {"id_token": "RS-CAPPED", "evse_id": 1, "charging_profile": capped}
    status, result = await command(platform, sim.id, "remote_start", body)
    assert (status, result["status"]) == (200, "Accepted"), result
    action = "RemoteStartTransaction" if version == "1.6" else "RequestStartTransaction"
    (sent,) = [p for a, p in sim.received_calls if a == action]
    profile = sent["chargingProfile"]
    assert profile["chargingProfilePurpose"] == "TxProfile" and "transactionId" not in profile
    schedule = profile["chargingSchedule"]
    period = (schedule[0] if isinstance(schedule, list) else schedule)["chargingSchedulePeriod"]
    assert period == [{"startPeriod": 0, "limit": 6000.0}]
    wrong = body | {"charging_profile": STATION_MAX}
    status, result = await command(platform, sim.id, "remote_start", wrong)
    assert status == 422 and "carries a Tx profile" in str(result)
    await sim.close()
