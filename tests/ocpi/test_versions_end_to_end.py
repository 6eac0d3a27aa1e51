"""The whole bridge in each OCPI version: an eMSP of that version registers itself, pages the
Locations, hears a charger's status change, pushes a token that is authorized in real time,
starts and stops a charge by command and gets its CDR priced in its version's terms. The
simulator validates everything it receives against its own models of that version."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator, Received, make_token
from tests.helpers.ocpi import PASSWORD, invite, location, sent
from tests.helpers.platform import Platform, one_site

UID = "04CAFE0001"
# 0.40 per kWh and 21 % VAT: 2.75 kWh cost 1.10, and 0.23 of VAT on it.
TARIFF = {
    "id": "KWH",
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.40, "vat": 21, "step_size": 1}]}
    ],
}
PRICE = {
    "2.1.1": 1.1,
    "2.2.1": {"excl_vat": 1.1, "incl_vat": 1.33},
    "2.3.0": {"before_taxes": 1.1, "taxes": [{"name": "VAT", "amount": 0.23}]},
}


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    body = location("WALK", [("WALK-1", "CP-WALK", 1)], tariff_ids=["KWH"])
    body["evses"][0]["capabilities"] = ["REMOTE_START_STOP_CAPABLE", "RFID_READER"]
    async with one_site(tmp_path, TARIFF, body, "CP-WALK", PASSWORD, authorize_timeout=2.0) as p:
        yield p


def token_path(version: str) -> tuple[str, dict[str, str]]:
    return f"/NL/WLK/{UID}", {} if version == "2.1.1" else {"type": "RFID"}


def command_result(command_id: str) -> Any:
    return lambda r: r.module == "commands" and r.method == "POST" and r.path.endswith(command_id)


async def command(sim: EmspSimulator, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Sends a command; its CommandResult (2.1.1: CommandResponse) as the eMSP got it."""
    before = set(sim.sent_commands)
    _, answer = await sim.send_command(name, body)
    assert answer["data"]["result"] == "ACCEPTED", answer
    (command_id,) = set(sim.sent_commands) - before
    return (await sim.wait_for(command_result(command_id))).body  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", ["2.1.1", "2.2.1", "2.3.0"])
async def test_an_emsp_of_each_version_gets_the_whole_bridge_in_its_own_terms(
    platform: Platform, version: str
) -> None:
    _, token_a = await invite(platform)
    async with EmspSimulator(party_id="WLK", version=version) as sim:
        await sim.register(f"{platform.url}/ocpi/versions", token_a)
        async with platform.admin() as admin:
            (party,) = (await admin.get("/parties")).json()
        assert party["version"] == version

        (walk,) = await sim.fetch_all("locations")
        assert walk["id"] == "WALK"
        token = make_token(UID, party_id="WLK", version=version, whitelist="NEVER")
        sim.tokens.append(token)
        path, params = token_path(version)
        pushed = await sim.request("PUT", "tokens", path, params=params, json=token)
        assert pushed.status_code == 201, pushed.text

        async with ChargePointSimulator(
            id="CP-WALK", url=platform.ws_url, ocpp="2.0.1", password=PASSWORD, power_w=11000
        ) as cp:
            await cp.boot()
            await cp.status(1, "Available")
            await sim.wait_for(sent("locations", "PUT"))
            await cp.status(1, "Unavailable")
            status: Received = await sim.wait_for(
                lambda r: (
                    r.module == "locations"
                    and r.method in ("PATCH", "PUT")
                    and "INOPERATIVE" in str(r.body)
                )
            )
            assert status.path.endswith("/WALK/WALK-1") or status.method == "PUT"
            await cp.status(1, "Available")

            assert await cp.authorize(UID) == "Accepted"  # asked in real time: NEVER
            asked = await sim.wait_for(lambda r: r.path.endswith(f"{UID}/authorize"))
            assert ("type" in asked.query) == (version != "2.1.1")

            start = {"token": token, "location_id": "WALK", "evse_uid": "WALK-1"}
            assert (await command(sim, "START_SESSION", start))["result"] == "ACCEPTED"
            session = (await sim.wait_for(sent("sessions", "PUT"))).body
            await cp.send_meter_values(1, 900)  # 2.75 kWh
            stop = {"session_id": session["id"]}
            assert (await command(sim, "STOP_SESSION", stop))["result"] == "ACCEPTED"
            cdr = (await sim.wait_for(sent("cdrs", "POST"))).body
        assert cdr["total_cost"] == PRICE[version]
        assert cdr["total_energy"] == 2.75
        assert sim.violations == [], sim.violations
