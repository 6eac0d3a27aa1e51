"""The price shown to the driver before and during charging (EU price transparency): on 2.0.1
the tariff with the authorization, CostUpdated while charging and totalCost at the end; on 1.6
the OCA's California Pricing DataTransfer messages, for chargers that know them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulators.charge_point import ChargePointSimulator
from tests.helpers.ocpi import TARIFF, location
from tests.helpers.platform import Platform, online, post
from tests.helpers.wire import basic, call, open_raw

DRIVER = "DRIVER-PRICE"
PASSWORD = "charger-secret-1"
# AC-STANDARD: 0.35 EUR/kWh before 21 % VAT, while charging.
PER_KWH = 0.35 * 1.21


@pytest.fixture
async def priced(tmp_path: Path) -> AsyncIterator[Platform]:
    """A platform that tells every reading's cost, and California Pricing to 1.6 chargers; the
    chargers CP-PRICE-16 and CP-PRICE-201 stand at a Location under AC-STANDARD."""
    p = await Platform(tmp_path, cost_update_seconds=0, california_pricing=True).start()
    try:
        await post(p, "/tariffs", TARIFF)
        evses = [("P-16", "CP-PRICE-16", 1), ("P-201", "CP-PRICE-201", 1)]
        site = location("PRICED", evses)
        for evse in site["evses"]:
            evse["connectors"][0]["tariff_ids"] = [TARIFF["id"]]
        await post(p, "/locations", site)
        await post(p, "/tokens", {"uid": DRIVER}, status=201)
        yield p
    finally:
        await p.stop()


def energy_cost(wh: float) -> Any:
    """The cost of `wh` under AC-STANDARD, to within the cent the engine rounds to."""
    return pytest.approx(wh / 1000 * PER_KWH, abs=0.01)


async def test_the_tariff_is_shown_with_the_authorization_before_charging_and_the_total_after(
    priced: Platform,
) -> None:
    """TC_I_02: the final total cost in TransactionEventResponse.totalCost at Ended; and the
    price as idTokenInfo.personalMessage of an accepted Authorize and TransactionEvent."""
    station = "CP-PRICE-201"
    await priced.add_station(station, password=PASSWORD)
    headers = basic(station, PASSWORD)
    async with await open_raw(priced.ws_url, station, ["ocpp2.0.1"], headers=headers) as ws:
        boot = {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}
        assert (await call(ws, "BootNotification", boot))[2]["status"] == "Accepted"
        token = {"idToken": DRIVER, "type": "ISO14443"}
        info = (await call(ws, "Authorize", {"idToken": token}))[2]["idTokenInfo"]
        assert info["status"] == "Accepted"
        assert info["personalMessage"] == {
            "format": "UTF8",
            "language": "en",
            "content": TARIFF["tariff_alt_text"][0]["text"],  # type: ignore[index]
        }
        assert info["language1"] == "en"
        stranger = {"idToken": "NOBODY", "type": "ISO14443"}
        info = (await call(ws, "Authorize", {"idToken": stranger}))[2]["idTokenInfo"]
        assert "personalMessage" not in info  # no price for a token that may not charge

        start = datetime.now(UTC) - timedelta(minutes=30)

        def event(kind: str, minute: int, wh: int, **extra: Any) -> dict[str, Any]:
            at = (start + timedelta(minutes=minute)).isoformat()
            return {
                "eventType": kind,
                "timestamp": at,
                "triggerReason": "Authorized" if kind == "Started" else "EVDeparted",
                "seqNo": minute,
                "transactionInfo": {"transactionId": "TX-PRICE-1"},
                "evse": {"id": 1, "connectorId": 1},
                "meterValue": [
                    {
                        "timestamp": at,
                        "sampledValue": [
                            {"value": wh, "measurand": "Energy.Active.Import.Register"}
                        ],
                    }
                ],
            } | extra

        started = (await call(ws, "TransactionEvent", event("Started", 0, 1000, idToken=token)))[2]
        assert started["idTokenInfo"]["personalMessage"]["content"].startswith("0.35/kWh")
        assert "totalCost" not in started  # only once charging has ended
        ended = (await call(ws, "TransactionEvent", event("Ended", 30, 11000)))[2]
        assert ended["totalCost"] == 4.24  # 10 kWh: 3.50 EUR and 21 % VAT, to the cent


async def test_tc_i_01_show_ev_driver_running_total_cost_during_charging(
    priced: Platform,
) -> None:
    sim = await online(priced, "CP-PRICE-201", "2.0.1")
    tx = await sim.start_transaction(1, DRIVER)
    await sim.send_meter_values(1, seconds=600)  # 11 kW for 10 minutes
    sent = await sim.wait_for_call("CostUpdated")
    assert sent["transactionId"] == tx.transaction_id
    assert sent["totalCost"] == (energy_cost(sim.meter_wh(1) - tx.meter_start_wh))
    assert sent["totalCost"] > 0
    await sim.close()


async def test_tc_i_02_show_ev_driver_final_total_cost_after_charging_on_1_6_california_pricing(
    priced: Platform,
) -> None:
    """1.6: SetUserPrice after the Authorize, RunningCost with the readings, FinalCost at the
    stop, each a DataTransfer of vendor org.openchargealliance.costmsg."""
    sim = await online(priced, "CP-PRICE-16", "1.6")

    async def told(expected: str) -> dict[str, Any]:
        payload = await sim.wait_for_call("DataTransfer")
        assert payload["vendorId"] == "org.openchargealliance.costmsg"
        assert payload["messageId"] == expected
        return json.loads(payload["data"])  # type: ignore[no-any-return]

    assert await sim.authorize(DRIVER) == "Accepted"
    assert await told("SetUserPrice") == {
        "idToken": DRIVER,
        "priceText": TARIFF["tariff_alt_text"][0]["text"],  # type: ignore[index]
    }
    tx = await sim.start_transaction(1, DRIVER)
    await sim.send_meter_values(1, seconds=600)
    running = await told("RunningCost")
    assert running["transactionId"] == int(tx.transaction_id)
    assert running["state"] == "Charging" and running["meterValue"] == sim.meter_wh(1)
    assert running["cost"] == (energy_cost(sim.meter_wh(1) - tx.meter_start_wh))
    await sim.stop_transaction(1)
    final = await told("FinalCost")
    assert final["transactionId"] == int(tx.transaction_id)
    assert final["cost"] == (energy_cost(sim.meter_wh(1) - tx.meter_start_wh))
    assert final["priceText"] == f"Cost: {final['cost']:.2f} EUR"
    await sim.close()


async def test_a_1_6_charger_that_knows_no_california_pricing_is_told_it_once(
    priced: Platform,
) -> None:
    sim = await online(priced, "CP-PRICE-16", "1.6")
    sim.knows_costmsg = False
    assert await sim.authorize(DRIVER) == "Accepted"
    await sim.wait_for_call("DataTransfer")  # answered UnknownVendorId
    await sim.start_transaction(1, DRIVER)
    await sim.send_meter_values(1, seconds=600)
    await sim.stop_transaction(1)
    display = priced.state.cost_display
    await display.settled()
    assert [action for action, _ in sim.received_calls].count("DataTransfer") == 1
    assert display.without_costmsg == {sim.id}
    await sim.close()


async def test_no_cost_is_told_where_no_tariff_applies(tmp_path: Path) -> None:
    p = await Platform(tmp_path, cost_update_seconds=0, california_pricing=True).start()
    try:
        sims: list[ChargePointSimulator] = []
        for version in ("1.6", "2.0.1"):
            sim = await online(p, f"CP-FREE-{version}", version)
            await sim.start_transaction(1, DRIVER)
            await sim.send_meter_values(1, seconds=600)
            await sim.stop_transaction(1)
            sims.append(sim)
        await p.state.cost_display.settled()
        for sim in sims:
            sent = {action for action, _ in sim.received_calls}
            assert not sent & {"CostUpdated", "DataTransfer"}, sent
            await sim.close()
    finally:
        await p.stop()
