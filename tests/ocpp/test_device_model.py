"""OCPP 2.0.1 block B, the device model: GetBaseReport and GetReport answered by NotifyReports that
the platform keeps per charger and shows (admin API, CLI, console); GetVariables and SetVariables
of many variables at once, cut to the charger's ItemsPerMessage."""

from __future__ import annotations

from typing import Any

import pytest

from csms import device_model
from tests.helpers.browser import add_user, client, logged_in
from tests.helpers.platform import Platform, command, online
from tests.helpers.processes import BIN, run

HEARTBEAT = {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}


async def reported(platform: Platform, station_id: str, body: dict[str, Any]) -> None:
    """Asks for a report and waits until the charger's NotifyReport is kept."""
    events = platform.events()
    name = "get_report" if "components" in body else "get_base_report"
    status, result = await command(platform, station_id, name, body)
    assert (status, result["status"]) == (200, "Accepted"), result
    await events.wait("ReportReceived", lambda e: e.station_id == station_id)


async def model(platform: Platform, station_id: str, **query: str) -> list[dict[str, Any]]:
    async with platform.admin() as admin:
        response = await admin.get(f"/stations/{station_id}/device-model", params=query)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def value_of(rows: list[dict[str, Any]], component: str, variable: str) -> Any:
    (row,) = [r for r in rows if (r["component"], r["variable"]) == (component, variable)]
    (actual,) = [a for a in row["attributes"] if a.get("type", "Actual") == "Actual"]
    return actual.get("value")


async def test_tc_b_07_a_full_inventory_is_kept_and_shown(platform: Platform) -> None:
    sim = await online(platform, "CP-DM", "2.0.1")
    await reported(platform, sim.id, {"report_base": "FullInventory"})
    rows = await model(platform, sim.id)
    assert len(rows) == len(sim.variables)
    assert value_of(rows, "OCPPCommCtrlr", "HeartbeatInterval") == str(sim.heartbeat_interval)
    # A write-only variable is reported without its value, and kept so.
    assert value_of(rows, "SecurityCtrlr", "BasicAuthPassword") is None
    assert await model(platform, sim.id, component="ocppcommctrlr") == [
        r for r in rows if r["component"] == "OCPPCommCtrlr"
    ]
    code, out, err = await run(str(BIN / "cpo"), "station", "model", sim.id, env=platform.cli_env())
    assert code == 0, err
    assert "OCPPCommCtrlr" in out and "HeartbeatInterval" in out
    await add_user(platform, "vera", "viewer")
    async with client(platform) as http:
        await logged_in(http, "vera")
        page = await http.get(f"/console/stations/{sim.id}")
    assert page.status_code == 200 and "Device model" in page.text
    assert "HeartbeatInterval" in page.text
    await sim.close()


async def test_tc_b_12_a_report_of_some_components_updates_only_them(platform: Platform) -> None:
    sim = await online(platform, "CP-DM-SOME", "2.0.1")
    await reported(platform, sim.id, {"report_base": "ConfigurationInventory"})
    sim.variables[("OCPPCommCtrlr", "HeartbeatInterval")] = "77"
    sim.variables[("TxCtrlr", "EVConnectionTimeOut")] = "99"
    await reported(platform, sim.id, {"components": [HEARTBEAT]})
    rows = await model(platform, sim.id)
    assert value_of(rows, "OCPPCommCtrlr", "HeartbeatInterval") == "77"
    assert value_of(rows, "TxCtrlr", "EVConnectionTimeOut") == "60"  # not asked about
    nothing = {"components": [{"component": "NoSuchCtrlr", "variable": "X"}]}
    status, result = await command(platform, sim.id, "get_report", nothing)
    assert (status, result["status"]) == (200, "EmptyResultSet")
    await sim.close()


async def test_many_variables_go_in_messages_of_the_chargers_items_per_message(
    platform: Platform,
) -> None:
    sim = await online(platform, "CP-DM-MANY", "2.0.1")
    sim.variables[("DeviceDataCtrlr", "ItemsPerMessage")] = "2"
    await reported(platform, sim.id, {"report_base": "FullInventory"})
    wanted = [
        {"component": c, "variable": v}
        for c, v in list(sim.variables)[:5]
        if (c, v) != ("SecurityCtrlr", "BasicAuthPassword")
    ]
    status, result = await command(platform, sim.id, "get_variables", {"variables": wanted})
    assert (status, result["status"]) == (200, "Accepted"), result
    assert len(result["data"]["results"]) == len(wanted)
    sent = [payload for action, payload in sim.received_calls if action == "GetVariables"]
    assert [len(p["getVariableData"]) for p in sent] == [2, 2, 1]

    changes = [
        HEARTBEAT | {"value": "45"},
        {"component": "TxCtrlr", "variable": "EVConnectionTimeOut", "value": "30"},
        {"component": "SecurityCtrlr", "variable": "Identity", "value": "someone-else"},
    ]
    status, result = await command(platform, sim.id, "set_variables", {"variables": changes})
    assert (status, result["status"]) == (200, "Partial"), result  # Identity is read-only
    statuses = [r["attribute_status"] for r in result["data"]["results"]]
    assert statuses == ["Accepted", "Accepted", "Rejected"]
    rows = await model(platform, sim.id)
    assert value_of(rows, "OCPPCommCtrlr", "HeartbeatInterval") == "45"
    assert value_of(rows, "TxCtrlr", "EVConnectionTimeOut") == "30"
    assert value_of(rows, "SecurityCtrlr", "Identity") == sim.id
    await sim.close()


async def test_a_charger_reporting_without_end_is_kept_within_bounds(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device_model, "VARIABLES_MAX", 4)
    sim = await online(platform, "CP-DM-BIG", "2.0.1")
    await reported(platform, sim.id, {"report_base": "FullInventory"})
    first = await model(platform, sim.id)
    assert len(first) == 4
    sim.variables[(first[0]["component"], first[0]["variable"])] = "changed"
    await reported(platform, sim.id, {"report_base": "FullInventory"})
    again = await model(platform, sim.id)
    assert len(again) == 4  # the ones known are still updated
    assert value_of(again, first[0]["component"], first[0]["variable"]) == "changed"
    await sim.close()


@pytest.mark.parametrize(
    ("name", "body", "words"),
    [
        ("get_variables", {"variables": []}, "at least 1"),
        ("get_variables", {"variables": [HEARTBEAT | {"connector_id": 1}]}, "within its EVSE"),
        ("get_variables", {"variables": [HEARTBEAT | {"component": "C" * 51}]}, "at most 50"),
        ("get_variables", {"variables": [HEARTBEAT] * 1001}, "at most 1000"),
        ("set_variables", {"variables": [HEARTBEAT]}, "value"),
        (
            "set_variables",
            {
                "variables": [
                    {"component": "SecurityCtrlr", "variable": "BasicAuthPassword", "value": "x"}
                ]
            },
            "set_password",
        ),
        ("get_report", {"criteria": ["Broken"]}, "Input should be"),
        ("get_base_report", {"report_base": "Everything"}, "Input should be"),
    ],
)
async def test_bad_device_model_commands_are_refused_before_the_charger_is_asked(
    platform: Platform, name: str, body: dict[str, Any], words: str
) -> None:
    sim = await online(platform, "CP-DM-BAD", "2.0.1")
    before = len(sim.received_calls)
    status, result = await command(platform, sim.id, name, body)
    assert status == 422 and words in str(result), result
    assert sim.received_calls[before:] == []
    await sim.close()


async def test_a_1_6_charger_has_no_device_model_to_report(platform: Platform) -> None:
    sim = await online(platform, "CP-DM-16", "1.6")
    status, result = await command(platform, sim.id, "get_base_report", {})
    assert status == 422 and "does not exist in OCPP 1.6" in str(result)
    await sim.close()
