"""OCPI 2.1.1 end to end, beside a 2.2.1 eMSP on the same platform: registration both ways
with flat credentials and raw tokens, Locations, Tariffs, Sessions and CDRs in 2.1.1 shapes
(Location embedded, `auth_id`, a plain number for the cost, priced by 2.1.1's tariff rules),
tokens pushed without a type, real-time authorization, and the four 2.1.1 commands answered
with `{result}`. No routing headers go to a 2.1.1 party. The simulators validate everything
they receive against their own models of their version."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator, Received, make_token
from tests.helpers.ocpi import PASSWORD, invite, location, push, register_with, sent
from tests.helpers.platform import Platform, one_site

OLD_UID, NEW_UID = "0411AA2233", "0422BB3344"
# Per 2.2.1 the first 2 kWh cost 0.30 and the rest 0.50, plus 1.00 to start. A 2.1.1 eMSP
# reads it element by element: until 2 kWh the FLAT element holds, which prices no energy.
TARIFF = {
    "id": "ELEMENTS",
    "currency": "EUR",
    "elements": [
        {
            "price_components": [{"type": "ENERGY", "price": 0.50, "step_size": 1}],
            "restrictions": {"min_kwh": 2.0},
        },
        {"price_components": [{"type": "FLAT", "price": 1.00, "step_size": 1}]},
        {"price_components": [{"type": "ENERGY", "price": 0.30, "vat": 21.0, "step_size": 1}]},
    ],
}
ROUTING = ("ocpi-from-country-code", "ocpi-from-party-id", "ocpi-to-country-code")


def site() -> dict[str, Any]:
    body = location("OLD-SITE", [("OLD-E1", "CP-OLD", 1)], tariff_ids=["ELEMENTS"])
    body["evses"][0]["capabilities"] = ["REMOTE_START_STOP_CAPABLE", "RESERVABLE", "RFID_READER"]
    return body


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with one_site(tmp_path, TARIFF, site(), "CP-OLD", PASSWORD, authorize_timeout=1.0) as p:
        yield p


@pytest.fixture
async def old(platform: Platform) -> AsyncIterator[EmspSimulator]:
    """A 2.1.1 eMSP the platform registered with."""
    async with EmspSimulator(party_id="OLD", version="2.1.1") as sim:
        party = await register_with(platform, sim)
        assert party["version"] == "2.1.1"
        yield sim
        assert sim.violations == [], sim.violations
        assert not [r for r in sim.received if set(ROUTING) & set(r.headers)]


async def push_211(sim: EmspSimulator, uid: str, **fields: Any) -> int:
    token = make_token(uid, party_id="OLD", version="2.1.1", **fields)
    response = await sim.request("PUT", "tokens", f"/NL/OLD/{uid}", json=token)
    return response.status_code


def result_for(command_id: str) -> Any:
    return lambda r: r.module == "commands" and r.method == "POST" and r.path.endswith(command_id)


async def command(sim: EmspSimulator, name: str, body: dict[str, Any]) -> tuple[Any, str]:
    before = set(sim.sent_commands)
    _, answer = await sim.send_command(name, body)
    (command_id,) = set(sim.sent_commands) - before
    return answer, command_id


def cdr_of(uid: str) -> Any:
    return lambda r: sent("cdrs", "POST")(r) and uid in str(r.body)


async def charge(platform: Platform, uid: str) -> None:
    """2.75 kWh at CP-OLD with the driver's card, start to end."""
    async with ChargePointSimulator(
        id="CP-OLD", url=platform.ws_url, ocpp="1.6", password=PASSWORD, power_w=11000
    ) as cp:
        await cp.boot()
        await cp.status(1, "Available")
        assert await cp.authorize(uid) == "Accepted"
        await cp.start_transaction(1, uid)
        await cp.send_meter_values(1, 900)
        await cp.stop_transaction(1)


async def test_a_2_1_1_emsp_gets_locations_and_tariffs_in_2_1_1_shapes(
    platform: Platform, old: EmspSimulator
) -> None:
    (tariff,) = await old.fetch_all("tariffs")
    assert "vat" not in str(tariff) and "country_code" not in tariff
    assert [len(e["price_components"]) for e in tariff["elements"]] == [1, 1, 1]
    (site_211,) = await old.fetch_all("locations")
    assert site_211["type"] == "PARKING_LOT"  # 2.2.1's parking_type is 2.1.1's type
    assert "country_code" not in site_211 and "publish" not in site_211
    connector = site_211["evses"][0]["connectors"][0]
    assert connector["tariff_id"] == "ELEMENTS" and "voltage" in connector
    pushed = await old.wait_for(sent("locations", "PUT"))
    assert pushed.body["type"] == "PARKING_LOT" and "parking_type" not in pushed.body
    put = await old.wait_for(sent("tariffs", "PUT"))
    assert put.body["elements"] == tariff["elements"]


async def test_a_2_1_1_charge_is_a_whole_session_each_time_and_a_cdr_priced_by_2_1_1_rules(
    platform: Platform, old: EmspSimulator
) -> None:
    assert await push_211(old, OLD_UID, whitelist="ALLOWED") == 201
    async with EmspSimulator(party_id="NEW") as new:
        await register_with(platform, new)
        assert await push(new, make_token(NEW_UID, party_id="NEW")) == 201
        await charge(platform, OLD_UID)
        await charge(platform, NEW_UID)
        cdr_211 = (await old.wait_for(cdr_of(OLD_UID))).body
        cdr_221 = (await new.wait_for(cdr_of(NEW_UID))).body
        assert new.violations == []
    # 2.2.1: 1.00 + 2 kWh at 0.30 + 0.75 kWh at 0.50 = 1.98 (with VAT only on 0.60: 2.11)
    assert cdr_221["total_cost"] == {"excl_vat": 1.98}
    # 2.1.1: 1.00 + nothing for the first 2 kWh (the FLAT element holds) + 0.75 at 0.50 = 1.38
    assert cdr_211["total_cost"] == 1.38
    assert cdr_211["auth_id"] == f"NL-OLD-C{OLD_UID}" and "cdr_token" not in cdr_211
    assert cdr_211["location"]["id"] == "OLD-SITE"
    assert [e["uid"] for e in cdr_211["location"]["evses"]] == ["OLD-E1"]
    assert cdr_211["stop_date_time"] and "end_date_time" not in cdr_211
    # The session came as whole PUTs, never a PATCH, each with the Location in it.
    updates = [r for r in old.received if r.module == "sessions"]
    assert updates and {r.method for r in updates} == {"PUT"}
    assert all(r.body["location"]["id"] == "OLD-SITE" for r in updates)
    assert updates[-1].body["status"] == "COMPLETED" and updates[-1].body["total_cost"] == 1.38
    (listed,) = await old.fetch_all("cdrs")
    assert listed["total_cost"] == 1.38
    (session,) = await old.fetch_all("sessions", {"date_from": "2000-01-01T00:00:00Z"})
    assert session["auth_id"] == cdr_211["auth_id"]


async def test_tokens_of_a_2_1_1_emsp_are_keyed_by_uid_and_read_back_in_2_1_1(
    platform: Platform, old: EmspSimulator
) -> None:
    assert await push_211(old, OLD_UID, type="OTHER") == 201
    read = await old.request("GET", "tokens", f"/NL/OLD/{OLD_UID}")
    assert read.status_code == 200
    token = read.json()["data"]
    assert token["auth_id"] == f"NL-OLD-C{OLD_UID}" and token["type"] == "OTHER"
    assert "country_code" not in token and "contract_id" not in token
    patched = await old.request("PATCH", "tokens", f"/NL/OLD/{OLD_UID}", json={"valid": False})
    assert patched.status_code == 200, patched.text  # 2.1.1: no last_updated needed
    again = await old.request("GET", "tokens", f"/NL/OLD/{OLD_UID}")
    assert again.json()["data"]["valid"] is False
    bad = make_token("X" * 37, party_id="OLD", version="2.1.1")
    refused = await old.request("PUT", "tokens", f"/NL/OLD/{'X' * 37}", json=bad)
    assert refused.status_code == 400


async def test_a_2_1_1_token_is_authorized_in_real_time_without_a_type(
    platform: Platform, old: EmspSimulator
) -> None:
    assert await push_211(old, OLD_UID, whitelist="NEVER") == 201
    old.tokens.append(make_token(OLD_UID, party_id="OLD", version="2.1.1", whitelist="NEVER"))
    async with ChargePointSimulator(
        id="CP-OLD", url=platform.ws_url, ocpp="1.6", password=PASSWORD
    ) as cp:
        await cp.boot()
        assert await cp.authorize(OLD_UID) == "Accepted"
    asked: Received = await old.wait_for(lambda r: r.path.endswith("/authorize"))
    assert "type" not in asked.query
    assert asked.body == {"location_id": "OLD-SITE", "evse_uids": ["OLD-E1"]}


async def test_2_1_1_commands_start_and_reserve_answered_with_result_only(
    platform: Platform, old: EmspSimulator
) -> None:
    async with ChargePointSimulator(
        id="CP-OLD", url=platform.ws_url, ocpp="2.0.1", password=PASSWORD, power_w=11000
    ) as cp:
        await cp.boot()
        await cp.status(1, "Available")
        token = make_token(OLD_UID, party_id="OLD", version="2.1.1", whitelist="NEVER")
        answer, start_id = await command(
            old, "START_SESSION", {"token": token, "location_id": "OLD-SITE", "evse_uid": "OLD-E1"}
        )
        assert answer["data"] == {"result": "ACCEPTED"}
        assert (await old.wait_for(result_for(start_id))).body == {"result": "ACCEPTED"}
        put = (await old.wait_for(sent("sessions", "PUT"))).body
        assert put["auth_id"] == f"NL-OLD-C{OLD_UID}"
        stop, stop_id = await command(old, "STOP_SESSION", {"session_id": put["id"]})
        assert stop["data"] == {"result": "ACCEPTED"}
        assert (await old.wait_for(result_for(stop_id))).body == {"result": "ACCEPTED"}
    unknown = await old.request("POST", "commands", "CANCEL_RESERVATION", json={})
    assert unknown.status_code == 404  # no such command in 2.1.1
    reserve = {
        "token": token,
        "expiry_date": "2099-01-01T00:00:00Z",
        "reservation_id": "7",  # a string: 2.1.1 says int
        "location_id": "OLD-SITE",
    }
    refused = await old.request(
        "POST", "commands", "RESERVE_NOW", json=reserve | {"response_url": old.url + "/r"}
    )
    assert refused.json()["status_code"] == 2001


async def test_a_2_1_1_emsp_registers_itself_with_flat_credentials_and_a_raw_token(
    platform: Platform,
) -> None:
    _, token_a = await invite(platform)
    async with EmspSimulator(party_id="OLD", version="2.1.1") as sim:
        ours = await sim.register(f"{platform.url}/ocpi/versions", token_a)
        assert set(ours) == {"token", "url", "business_details", "party_id", "country_code"}
        assert (ours["country_code"], ours["party_id"]) == ("NL", "CPO")
        assert sim.violations == []
        assert await push_211(sim, OLD_UID) == 201  # the raw token C opens the tokens module
    async with platform.admin() as admin:
        parties = (await admin.get("/parties")).json()
    (party,) = [p for p in parties if p["version"] == "2.1.1"]
    assert party["token_encoding"] == "raw"
