"""OCPP 2.0.1 block O (display messages) and block I (the running cost shown to the driver):
Set/Get/ClearDisplayMessage and CostUpdated through the command port, on a simulated charger."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.platform import Platform, command, online

PRICE = {"id": 7, "content": "0,35 EUR/kWh", "language": "nl", "priority": "InFront"}


async def test_tc_o_01_a_message_is_set_read_back_and_cleared(platform: Platform) -> None:
    sim = await online(platform, "CP-SHOW", "2.0.1")
    status, result = await command(platform, sim.id, "set_display_message", PRICE)
    assert (status, result["status"]) == (200, "Accepted")
    shown = sim.display_messages[7]
    assert shown["message"] == {"format": "UTF8", "content": "0,35 EUR/kWh", "language": "nl"}
    assert shown["priority"] == "InFront"

    events = platform.events()
    status, result = await command(platform, sim.id, "get_display_messages", {"ids": [7]})
    assert (status, result["status"]) == (200, "Accepted")
    told = await events.wait("DisplayMessagesReported", lambda e: e.station_id == sim.id)
    assert told.data["request_id"] == result["data"]["request_id"]
    assert [m["id"] for m in told.data["messages"]] == [7]

    status, result = await command(platform, sim.id, "clear_display_message", {"id": 7})
    assert (status, result["status"]) == (200, "Accepted")
    status, result = await command(platform, sim.id, "clear_display_message", {"id": 7})
    assert (status, result["status"]) == (200, "Unknown")
    status, result = await command(platform, sim.id, "get_display_messages", {})
    assert (status, result["status"]) == (200, "Unknown")  # nothing left to show
    await sim.close()


async def test_tc_i_01_the_running_cost_of_a_transaction_reaches_the_charger(
    platform: Platform,
) -> None:
    sim = await online(platform, "CP-COST", "2.0.1")
    events = platform.events()
    await sim.start_transaction(1, "TOKEN-COST")
    started = await events.wait("TransactionStarted", lambda e: e.station_id == sim.id)
    body = {"transaction_id": started.data["transaction_id"], "total_cost": 1.234}
    status, result = await command(platform, sim.id, "cost_updated", body)
    assert (status, result["status"]) == (200, "Accepted")
    assert sim.costs == {started.data["ocpp_transaction_id"]: 1.23}
    await sim.close()


@pytest.mark.parametrize(
    ("name", "body", "words"),
    [
        ("set_display_message", PRICE | {"content": "x" * 513}, "at most 512"),
        ("set_display_message", PRICE | {"priority": "Urgent"}, "Input should be"),
        (
            "set_display_message",
            PRICE | {"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"},
            "end before it starts",
        ),
        ("set_display_message", PRICE | {"transaction_id": 999_999}, "no running transaction"),
        ("clear_display_message", {"id": -1}, "greater than or equal"),
        ("cost_updated", {"transaction_id": 999_999, "total_cost": 1}, "no running transaction"),
        ("cost_updated", {"transaction_id": 1, "total_cost": -1}, "greater than or equal"),
    ],
)
async def test_bad_display_commands_are_refused_before_the_charger_is_asked(
    platform: Platform, name: str, body: dict[str, Any], words: str
) -> None:
    sim = await online(platform, "CP-SHOW-BAD", "2.0.1")
    before = len(sim.received_calls)
    status, result = await command(platform, sim.id, name, body)
    assert status == 422 and words in str(result), result
    assert sim.received_calls[before:] == []
    await sim.close()


async def test_a_1_6_charger_shows_no_display_messages(platform: Platform) -> None:
    sim = await online(platform, "CP-SHOW-16", "1.6")
    status, result = await command(platform, sim.id, "set_display_message", PRICE)
    assert status == 422 and "does not exist in OCPP 1.6" in str(result)
    await sim.close()
