"""OCPP 2.0.1 block N (monitoring and customer information) and B (network profiles): monitors
set, reported and cleared; the monitoring base and level; what a charger holds of a customer
reported and cleared; a network profile given to a slot."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.platform import Platform, command, online

HEARTBEAT = {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}


async def test_tc_n_04_monitors_are_set_reported_and_cleared(platform: Platform) -> None:
    sim = await online(platform, "CP-MON", "2.0.1")
    monitors = [
        HEARTBEAT | {"type": "UpperThreshold", "value": 600, "severity": 4},
        {"component": "NoSuchCtrlr", "variable": "X", "type": "Delta", "value": 1, "severity": 8},
    ]
    status, result = await command(
        platform, sim.id, "set_variable_monitoring", {"monitors": monitors}
    )
    assert (status, result["status"]) == (200, "Partial")
    first, second = result["data"]["results"]
    assert first["status"] == "Accepted" and second["status"] == "UnknownComponent"
    assert sim.monitors[first["id"]]["value"] == 600

    events = platform.events()
    status, result = await command(platform, sim.id, "get_monitoring_report", {})
    assert (status, result["status"]) == (200, "Accepted")
    told = await events.wait("MonitoringReported", lambda e: e.station_id == sim.id)
    (reported,) = told.data["monitors"]
    assert reported["variable_monitoring"][0]["id"] == first["id"]

    for name, body in (
        ("set_monitoring_base", {"base": "FactoryDefault"}),
        ("set_monitoring_level", {"severity": 5}),
    ):
        status, result = await command(platform, sim.id, name, body)
        assert (status, result["status"]) == (200, "Accepted"), name
    assert sim.monitoring == {"base": "FactoryDefault", "level": 5}

    body = {"ids": [first["id"], 999]}
    status, result = await command(platform, sim.id, "clear_variable_monitoring", body)
    assert (status, result["status"]) == (200, "Partial")
    assert [r["status"] for r in result["data"]["results"]] == ["Accepted", "NotFound"]
    assert sim.monitors == {}
    await sim.close()


async def test_tc_n_32_what_a_charger_holds_of_a_customer_is_reported_and_cleared(
    platform: Platform,
) -> None:
    sim = await online(platform, "CP-GDPR", "2.0.1")
    sim.customers["DRIVER-1"] = "3 transactions, last 2030-01-01"
    events = platform.events()
    body = {"customer_identifier": "DRIVER-1", "report": True, "clear": True}
    status, result = await command(platform, sim.id, "customer_information", body)
    assert (status, result["status"]) == (200, "Accepted")
    told = await events.wait("CustomerInformationReported", lambda e: e.station_id == sim.id)
    assert told.data["data"] == "3 transactions, last 2030-01-01"
    assert told.data["request_id"] == result["data"]["request_id"]
    assert "DRIVER-1" not in sim.customers
    await sim.close()


async def test_a_network_profile_is_given_to_a_slot(platform: Platform) -> None:
    sim = await online(platform, "CP-NET", "2.0.1")
    body = {"slot": 1, "csms_url": "wss://csms.example/ocpp", "security_profile": 2}
    status, result = await command(platform, sim.id, "set_network_profile", body)
    assert (status, result["status"]) == (200, "Accepted")
    assert sim.network_profiles[1]["ocpp_csms_url"] == "wss://csms.example/ocpp"
    assert sim.network_profiles[1]["security_profile"] == 2
    await sim.close()


@pytest.mark.parametrize(
    ("name", "body", "words"),
    [
        ("set_variable_monitoring", {"monitors": []}, "at least 1"),
        (
            "set_variable_monitoring",
            {"monitors": [HEARTBEAT | {"type": "Above", "value": 1, "severity": 1}]},
            "Input should be",
        ),
        (
            "set_variable_monitoring",
            {"monitors": [HEARTBEAT | {"type": "Delta", "value": 1, "severity": 10}]},
            "less than or equal to 9",
        ),
        ("set_monitoring_level", {"severity": -1}, "greater than or equal"),
        ("clear_variable_monitoring", {"ids": []}, "at least 1"),
        ("customer_information", {"report": True}, "name the customer"),
        (
            "customer_information",
            {"customer_identifier": "C", "id_token": "T", "report": True},
            "name the customer",
        ),
        ("customer_information", {"customer_identifier": "C", "report": False}, "a report"),
        (
            "set_network_profile",
            {"slot": 1, "csms_url": "http://x/y", "security_profile": 1},
            "pattern",
        ),
        ("set_network_profile", {"slot": 1, "csms_url": "ws://x/yyy", "security_profile": 4}, "3"),
    ],
)
async def test_bad_monitoring_commands_are_refused_before_the_charger_is_asked(
    platform: Platform, name: str, body: dict[str, Any], words: str
) -> None:
    sim = await online(platform, "CP-MON-BAD", "2.0.1")
    before = len(sim.received_calls)
    status, result = await command(platform, sim.id, name, body)
    assert status == 422 and words in str(result), result
    assert sim.received_calls[before:] == []
    await sim.close()
