"""OCPI 2.3.0's additions to Locations: parking places, EVSE parking, accepted service providers,
a help phone and Plug & Charge connector capabilities. The operator gives them; a 2.3.0 eMSP
receives them, pushed and pulled; a 2.2.1 eMSP on the same platform receives the same Location
without any of them; bad ones are refused naming the field."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import ValidationError

from cpo.locations import v221, v230
from cpo.locations.wire import location_out
from cpo.ocpi.models import VersionNumber
from simulators.emsp import EmspSimulator
from tests.helpers.ocpi import location, pushed, register_with, spec_location
from tests.helpers.platform import Platform, post

Payload = dict[str, Any]

PARKING = {
    "id": "BAY-1",
    "physical_reference": "P1",
    "vehicle_types": ["PERSONAL_VEHICLE", "DISABLED"],
    "max_vehicle_height": 210,
    "parking_space_length": 500,
    "parking_space_width": 330,
    "direction": "PERPENDICULAR",
    "drive_through": False,
    "restricted_to_type": True,
    "reservation_required": False,
    "time_limit": 240,
    "roofed": True,
    "lighting": True,
    "standards": ["PAS 1899"],
}
TRUCK_PARKING = {
    "id": "BAY-2",
    "vehicle_types": ["TRUCK_WITH_TRAILER", "SEMI_TRACTOR"],
    "max_vehicle_weight": 40000,
    "max_vehicle_length": 1875,
    "dangerous_goods_allowed": False,
    "direction": "PARALLEL",
    "drive_through": True,
    "restricted_to_type": False,
    "reservation_required": True,
    "refrigeration_outlet": True,
}
PLUG_AND_CHARGE = ["ISO_15118_2_PLUG_AND_CHARGE", "ISO_15118_20_PLUG_AND_CHARGE"]
PROVIDERS = ["Shell Recharge", "Plugsurfing"]


def with_additions(body: Payload) -> Payload:
    """A Location (operator's or wire form) with every 2.3.0 addition on it, on its first EVSE."""
    body["help_phone"] = "+31 30 123 4567"
    body["parking_places"] = copy.deepcopy([PARKING, TRUCK_PARKING])
    evse = body["evses"][0]
    evse["parking"] = [{"parking_id": "BAY-1", "evse_position": "LEFT"}, {"parking_id": "bay-2"}]
    evse["accepted_service_providers"] = list(PROVIDERS)
    evse["connectors"][0]["capabilities"] = list(PLUG_AND_CHARGE)
    return body


def operator_site() -> Payload:
    return with_additions(location("PARK-1", [("PARK-1-1", "CP-PARK", 1)]))


def stored_site() -> Payload:
    """A stored Location as eMSPs receive it, 2.3.0's additions included."""
    return v230.Location.model_validate(with_additions(spec_location())).wire()


def assert_no_additions(found: Payload) -> None:
    """Nothing 2.3.0 adds, at any level."""
    assert not v230.LOCATION_ADDITIONS & set(found), found
    for evse in found.get("evses", []):
        assert_evse_without_additions(evse)


def assert_evse_without_additions(evse: Payload) -> None:
    assert not v230.EVSE_ADDITIONS & set(evse), evse
    for connector in evse["connectors"]:
        assert not v230.CONNECTOR_ADDITIONS & set(connector), connector


# The models and the shapes


def test_the_additions_are_the_spec_fields_at_each_level() -> None:
    assert v230.LOCATION_ADDITIONS == {"parking_places", "help_phone"}
    assert v230.EVSE_ADDITIONS == {"parking", "accepted_service_providers"}
    assert v230.CONNECTOR_ADDITIONS == {"capabilities"}


def test_a_2_3_0_location_keeps_parking_providers_help_phone_and_capabilities() -> None:
    stored = stored_site()
    assert stored["help_phone"] == "+31 30 123 4567"
    assert stored["parking_places"] == [PARKING, TRUCK_PARKING]
    evse = stored["evses"][0]
    assert evse["parking"] == [
        {"parking_id": "BAY-1", "evse_position": "LEFT"},
        {"parking_id": "bay-2"},
    ]
    assert evse["accepted_service_providers"] == PROVIDERS
    assert evse["connectors"][0]["capabilities"] == PLUG_AND_CHARGE
    assert location_out(stored, VersionNumber.V2_3_0) == stored


def test_a_2_2_1_location_has_none_of_the_additions_and_all_else() -> None:
    stored = stored_site()
    before = copy.deepcopy(stored)
    old = location_out(stored, VersionNumber.V2_2_1)
    assert_no_additions(old)
    assert stored == before  # the stored form is left alone
    assert old == v221.Location.model_validate(spec_location()).wire()
    assert v221.Location.model_validate(old).wire() == old


def test_a_location_without_additions_is_the_same_in_both_versions() -> None:
    stored = v230.Location.model_validate(spec_location()).wire()
    assert location_out(stored, VersionNumber.V2_2_1) == stored
    assert location_out(stored, VersionNumber.V2_3_0) == stored


def test_operator_input_keeps_the_additions_for_storage() -> None:
    given = v230.LocationIn.model_validate(operator_site())
    assert given.help_phone == "+31 30 123 4567"
    assert given.parking_places is not None and given.parking_places[1].max_vehicle_weight == 40000
    evse = (given.evses or [])[0]
    assert evse.parking is not None and evse.parking[0].evse_position == v230.EVSEPosition.LEFT
    assert evse.accepted_service_providers == PROVIDERS
    assert evse.connectors[0].capabilities == list(v230.ConnectorCapability)


# Bad operator data is refused with a message that names the field

Change = Callable[[Payload], None]


def set_at(path: str, value: Any) -> Change:
    def change(payload: Payload) -> None:
        *parents, last = path.split(".")
        target: Any = payload
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return change


def drop(path: str) -> Change:
    def change(payload: Payload) -> None:
        *parents, last = path.split(".")
        target: Any = payload
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]

    return change


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (set_at("evses.0.parking.1.parking_id", "BAY-9"), "parking_id", "'BAY-9', which is not"),
        (set_at("help_phone", "+31 " + "3" * 22), "help_phone", "at most 25 characters"),
        (set_at("parking_places.0.vehicle_types", []), "vehicle_types", "at least 1 item"),
        (set_at("parking_places.1.id", "bay-1"), "parking_places", "'bay-1' appears more than"),
        (set_at("parking_places.0.id", "B" * 37), "parking_places.0.id", "at most 36 characters"),
        (set_at("parking_places.0.vehicle_types.0", "TRACTOR"), "vehicle_types.0", "Input should"),
        (drop("parking_places.0.restricted_to_type"), "restricted_to_type", "Field required"),
        (drop("parking_places.0.reservation_required"), "reservation_required", "Field required"),
        (set_at("parking_places.0.physical_reference", "P" * 13), "physical_reference", "at most"),
        (set_at("parking_places.0.direction", "DIAGONAL"), "direction", "Input should be"),
        (set_at("parking_places.1.max_vehicle_weight", -1), "max_vehicle_weight", "greater than"),
        (set_at("parking_places.0.colour", "red"), "colour", "Extra inputs are not permitted"),
        (set_at("evses.0.parking.0.evse_position", "UP"), "evse_position", "Input should be"),
        (set_at("evses.0.parking.0.side", "L"), "side", "Extra inputs are not permitted"),
        (set_at("evses.0.accepted_service_providers.0", "E" * 51), "accepted", "at most 50"),
        (set_at("evses.0.connectors.0.capabilities.0", "AUTOCHARGE"), "capabilities", "Input"),
    ],
)
def test_bad_2_3_0_additions_are_refused(change: Change, field: str, words: str) -> None:
    payload = operator_site()
    change(payload)
    with pytest.raises(ValidationError) as caught:
        v230.LocationIn.model_validate(payload)
    problems = [(".".join(map(str, e["loc"])), e["msg"]) for e in caught.value.errors()]
    assert any((field in loc or field in msg) and words in msg for loc, msg in problems), problems


def test_an_evse_may_not_name_parking_at_a_location_without_any() -> None:
    payload = operator_site()
    del payload["parking_places"]
    with pytest.raises(ValidationError, match="not one of the Location's parking_places"):
        v230.LocationIn.model_validate(payload)


# End to end: one platform, an eMSP on each version


@pytest.fixture
async def emsps(platform: Platform) -> AsyncIterator[tuple[EmspSimulator, EmspSimulator]]:
    """A 2.3.0 and a 2.2.1 eMSP simulator, both registered with the platform, then the site."""
    async with (
        EmspSimulator(party_id="NEW", version="2.3.0") as new,
        EmspSimulator(party_id="OLD") as old,
    ):
        for sim, version in ((new, "2.3.0"), (old, "2.2.1")):
            sim.required_endpoints.add(("locations", "SENDER"))
            assert (await register_with(platform, sim))["version"] == version
        await post(platform, "/locations", operator_site())
        yield new, old
        assert new.violations == [], new.violations
        assert old.violations == [], old.violations


async def test_a_2_3_0_emsp_gets_the_additions_pushed_and_a_2_2_1_emsp_gets_none(
    emsps: tuple[EmspSimulator, EmspSimulator],
) -> None:
    new, old = emsps
    put = (await new.wait_for(pushed("PUT", "/NL/CPO/PARK-1"))).body
    assert put["help_phone"] == "+31 30 123 4567"
    assert put["parking_places"] == [PARKING, TRUCK_PARKING]
    assert put["evses"][0]["parking"][0] == {"parking_id": "BAY-1", "evse_position": "LEFT"}
    assert put["evses"][0]["accepted_service_providers"] == PROVIDERS
    assert put["evses"][0]["connectors"][0]["capabilities"] == PLUG_AND_CHARGE
    assert new.locations[("NL", "CPO", "PARK-1")]["parking_places"] == put["parking_places"]

    put_221 = (await old.wait_for(pushed("PUT", "/NL/CPO/PARK-1"))).body
    assert_no_additions(put_221)
    assert_no_additions(old.locations[("NL", "CPO", "PARK-1")])
    # The rest is the same Location.
    assert put_221["evses"][0]["evse_id"] == put["evses"][0]["evse_id"] == "NL*CPO*EPARK11"
    assert put_221["evses"][0]["connectors"][0]["standard"] == "IEC_62196_T2"


async def test_each_emsp_pulls_the_location_evse_and_connector_in_its_version(
    emsps: tuple[EmspSimulator, EmspSimulator],
) -> None:
    new, old = emsps
    (listed,) = await new.fetch_all("locations")
    assert listed["parking_places"] == [PARKING, TRUCK_PARKING]
    assert listed["help_phone"] == "+31 30 123 4567"
    one = (await new.request("GET", "locations", "/PARK-1")).json()["data"]
    assert one == listed
    evse = (await new.request("GET", "locations", "/PARK-1/PARK-1-1")).json()["data"]
    assert evse["accepted_service_providers"] == PROVIDERS and len(evse["parking"]) == 2
    connector = (await new.request("GET", "locations", "/PARK-1/PARK-1-1/1")).json()["data"]
    assert connector["capabilities"] == PLUG_AND_CHARGE

    (listed_221,) = await old.fetch_all("locations")
    assert_no_additions(listed_221)
    one_221 = (await old.request("GET", "locations", "/PARK-1")).json()["data"]
    assert one_221 == listed_221
    evse_221 = (await old.request("GET", "locations", "/PARK-1/PARK-1-1")).json()["data"]
    assert_evse_without_additions(evse_221)
    connector_221 = (await old.request("GET", "locations", "/PARK-1/PARK-1-1/1")).json()["data"]
    assert not v230.CONNECTOR_ADDITIONS & set(connector_221)
    assert connector_221["id"] == "1" and connector_221["max_electric_power"] == 22000


async def test_bad_2_3_0_additions_are_refused_by_the_admin_api_naming_the_field(
    platform: Platform,
) -> None:
    unknown_parking = operator_site()
    unknown_parking["evses"][0]["parking"] = [{"parking_id": "BAY-9"}]
    long_phone = operator_site() | {"help_phone": "+31 30 123 4567 890 12 345"}
    no_vehicle_types = operator_site()
    no_vehicle_types["parking_places"][0]["vehicle_types"] = []
    same_parking_twice = operator_site()
    same_parking_twice["parking_places"][1]["id"] = "BAY-1"
    cases = [
        (unknown_parking, "parking_id 'BAY-9'"),
        (long_phone, "help_phone"),
        (no_vehicle_types, "parking_places.0.vehicle_types"),
        (same_parking_twice, "parking id 'BAY-1' appears more than once"),
    ]
    async with platform.admin() as admin:
        for body, named in cases:
            response = await admin.post("/locations", json=body)
            assert response.status_code == 422, response.text
            errors = response.json()["errors"]
            assert any(named in f"{e['field']} {e['problem']}" for e in errors), errors
        assert len(long_phone["help_phone"]) == 26
        assert (await admin.get("/locations")).json() == []  # nothing imported


async def test_a_retired_evse_keeps_only_parking_links_to_places_the_location_still_has(
    platform: Platform,
) -> None:
    site = with_additions(location("PARK-2", [("PARK-2-1", "CP-P", 1), ("PARK-2-2", "CP-P", 2)]))
    site["evses"][1]["parking"] = [{"parking_id": "BAY-1"}, {"parking_id": "BAY-2"}]
    await post(platform, "/locations", site)
    fewer = copy.deepcopy(site)
    del fewer["evses"][1]  # retired as REMOVED
    fewer["parking_places"] = [PARKING]
    fewer["evses"][0]["parking"] = [{"parking_id": "BAY-1"}]
    await post(platform, "/locations", fewer)
    async with platform.admin() as admin:
        found = (await admin.get("/locations/PARK-2")).json()
        retired = found["evses"][1]
        assert retired["status"] == "REMOVED" and retired["parking"] == [{"parking_id": "BAY-1"}]
        v230.Location.model_validate(found)  # every EVSEParking names a Parking of the Location
        none = copy.deepcopy(fewer)
        del none["parking_places"], none["evses"][0]["parking"]
        await post(platform, "/locations", none)
        found = (await admin.get("/locations/PARK-2")).json()
    assert "parking" not in found["evses"][1] and "parking_places" not in found
    v230.Location.model_validate(found)
