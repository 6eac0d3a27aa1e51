"""OCPI 2.3.0 end to end: an eMSP on 2.3.0 registers, gets Tariffs, Sessions and CDRs in 2.3.0
shapes (amounts before taxes with the taxes due, PriceLimit bounds, tax_included), authorizes
Plug & Charge (EMAID) tokens, and a command the platform does not know is NOT_SUPPORTED, while a
2.2.1 eMSP on the same platform keeps 2.2.1's shapes. The simulator validates everything it
receives against its own 2.3.0 (or 2.2.1) models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator, make_token
from tests.helpers.ocpi import PASSWORD, location, push, register_with, sent
from tests.helpers.platform import Platform, one_site

EMAID = "NLEMSC000000042"  # an ISO 15118 contract id, short enough for a 1.6 idTag
# 0.40/kWh plus 21 % VAT, at least 0.50 and at most 20.00 before taxes.
TARIFF = {
    "id": "V230-KWH",
    "currency": "EUR",
    "min_price": {"excl_vat": 0.5, "incl_vat": 0.61},
    "max_price": {"excl_vat": 20.0},
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.40, "vat": 21.0, "step_size": 1}]}
    ],
}


def site() -> dict[str, Any]:
    body = location("V230", [("V230-E1", "CP-V230", 1)], tariff_ids=["V230-KWH"])
    body["evses"][0]["capabilities"] = ["REMOTE_START_STOP_CAPABLE", "RFID_READER"]
    return body


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with one_site(tmp_path, TARIFF, site(), "CP-V230", PASSWORD) as p:
        yield p


@pytest.fixture
async def emsp(platform: Platform) -> AsyncIterator[EmspSimulator]:
    async with EmspSimulator(party_id="EMS", version="2.3.0") as sim:
        party = await register_with(platform, sim)
        assert party["version"] == "2.3.0"
        yield sim
        assert sim.violations == [], sim.violations


async def result_of(emsp: EmspSimulator, command_id: str) -> dict[str, Any]:
    found = await emsp.wait_for(
        lambda r: r.module == "commands" and r.method == "POST" and r.path.endswith(command_id)
    )
    return found.body  # type: ignore[no-any-return]


async def test_a_2_3_0_emsp_gets_its_tariff_with_limits_and_taxes_in_2_3_0_shape(
    platform: Platform, emsp: EmspSimulator
) -> None:
    (tariff,) = await emsp.fetch_all("tariffs")
    assert tariff["tax_included"] == "NO"  # our prices are without taxes; VAT comes on top
    assert tariff["min_price"] == {"before_taxes": 0.5, "after_taxes": 0.61}
    assert tariff["max_price"] == {"before_taxes": 20.0}
    assert tariff["elements"] == TARIFF["elements"]
    pushed = await emsp.wait_for(sent("tariffs", "PUT"))
    assert pushed.body["tax_included"] == "NO"
    assert pushed.body["min_price"] == tariff["min_price"]


async def test_a_plug_and_charge_token_charges_by_command_with_costs_before_and_after_taxes(
    platform: Platform, emsp: EmspSimulator
) -> None:
    async with ChargePointSimulator(
        id="CP-V230", url=platform.ws_url, ocpp="2.0.1", password=PASSWORD, power_w=11000
    ) as cp:
        await cp.boot()
        await cp.status(1, "Available")
        token = make_token(EMAID, type="EMAID", whitelist="NEVER", version="2.3.0")
        before = set(emsp.sent_commands)
        _, answer = await emsp.send_command(
            "START_SESSION", {"token": token, "location_id": "V230", "evse_uid": "V230-E1"}
        )
        assert answer["data"]["result"] == "ACCEPTED"
        (command_id,) = set(emsp.sent_commands) - before
        assert (await result_of(emsp, command_id))["result"] == "ACCEPTED"
        put = (await emsp.wait_for(sent("sessions", "PUT"))).body
        assert put["cdr_token"]["type"] == "EMAID" and put["cdr_token"]["uid"] == EMAID
        await cp.send_meter_values(1, 900)  # 2.75 kWh
        patched = await emsp.wait_for(
            lambda r: sent("sessions", "PATCH")(r) and "total_cost" in (r.body or {})
        )
        assert set(patched.body["total_cost"]) <= {"before_taxes", "taxes"}
        await cp.stop_transaction(1)
        cdr = (await emsp.wait_for(sent("cdrs", "POST"))).body
    # 2.75 kWh at 0.40 = 1.10, and 21 % VAT on it = 0.23 (1.33 after taxes).
    assert cdr["total_cost"] == {"before_taxes": 1.1, "taxes": [{"name": "VAT", "amount": 0.23}]}
    assert cdr["total_energy_cost"] == cdr["total_cost"]
    (embedded,) = cdr["tariffs"]
    assert embedded["tax_included"] == "NO" and embedded["max_price"] == {"before_taxes": 20.0}
    final = emsp.sessions[("NL", "CPO", put["id"])]
    assert final["status"] == "COMPLETED" and final["total_cost"] == cdr["total_cost"]
    # What the eMSP pages through is in the same shapes.
    (listed,) = await emsp.fetch_all("cdrs")
    assert listed["total_cost"] == cdr["total_cost"]
    (session,) = await emsp.fetch_all("sessions", {"date_from": "2000-01-01T00:00:00Z"})
    assert session["total_cost"] == cdr["total_cost"]


async def test_a_command_2_3_0_may_add_is_answered_not_supported(emsp: EmspSimulator) -> None:
    response = await emsp.request(
        "POST", "commands", "START_PARKING", json={"response_url": "https://emsp.test/r/1"}
    )
    assert response.status_code == 200
    assert response.json()["data"]["result"] == "NOT_SUPPORTED"


async def test_emaid_tokens_are_a_2_3_0_type_only(platform: Platform, emsp: EmspSimulator) -> None:
    token = make_token(EMAID, type="EMAID", version="2.3.0")
    assert await push(emsp, token) == 201
    async with EmspSimulator(party_id="OLD") as old:
        await register_with(platform, old)
        refused = await old.request(
            "PUT",
            "tokens",
            f"/NL/OLD/{EMAID}",
            params={"type": "EMAID"},
            json=make_token(EMAID, type="EMAID", party_id="OLD"),
        )
        assert refused.status_code == 400
        assert "type must be one of" in refused.json()["status_message"]


async def test_one_platform_speaks_2_2_1_and_2_3_0_to_each_party_in_its_own(
    platform: Platform, emsp: EmspSimulator
) -> None:
    async with EmspSimulator(party_id="OLD") as old:
        party = await register_with(platform, old)
        assert party["version"] == "2.2.1"
        (tariff,) = await old.fetch_all("tariffs")
        assert "tax_included" not in tariff
        assert tariff["min_price"] == {"excl_vat": 0.5, "incl_vat": 0.61}
        assert old.violations == []
    (tariff,) = await emsp.fetch_all("tariffs")
    assert tariff["min_price"] == {"before_taxes": 0.5, "after_taxes": 0.61}
