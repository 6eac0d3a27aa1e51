"""OCPI 2.1.1 wire objects: the 2.1.1 spec's examples pass, the stored 2.2.1 objects convert to
valid 2.1.1 ones keeping what both versions hold, every lossy mapping has its exact outcome, and
bad 2.1.1 input is refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from cpo.cdrs.v211 import CDR, cdr_out
from cpo.cdrs.v221 import CDR as CDR221
from cpo.commands.v211 import (
    REQUESTS,
    RESULTS,
    CommandResponse,
    CommandType,
    ReserveNow,
    StartSession,
    StopSession,
    UnlockConnector,
    request_in,
    response_out,
    result_out,
)
from cpo.commands.v221 import REQUESTS as REQUESTS_221
from cpo.commands.v221 import CommandType as CommandType221
from cpo.credentials.v211 import Credentials, credentials_in, credentials_out
from cpo.credentials.v221 import Credentials as Credentials221
from cpo.locations.v211 import (
    EVSE,
    Connector,
    GeoLocation,
    Hours,
    Location,
    connector_out,
    evse_out,
    location_out,
)
from cpo.locations.v221 import Location as Location221
from cpo.ocpi.models_v211 import NotIn211, ascii_text
from cpo.sessions.v211 import Session, session_out
from cpo.sessions.v221 import Session as Session221
from cpo.tariffs.v211 import Tariff, tariff_out
from cpo.tariffs.v221 import Tariff as Tariff221
from cpo.tokens.v211 import (
    AuthorizationInfo,
    LocationReferences,
    Token,
    authorization_info_in,
    location_references_out,
    token_in,
    token_out,
)
from cpo.tokens.v221 import AuthorizationInfo as AuthorizationInfo221
from cpo.tokens.v221 import Token as Token221
from tests.helpers.ocpi import spec_location

Payload = dict[str, Any]


def stored(model: type[BaseModel], payload: Payload) -> Payload:
    """A 2.2.1 object as the platform stores it: validated and dumped."""
    return model.model_validate(payload).model_dump(mode="json", exclude_none=True)


def wire(model: type[BaseModel], payload: Payload) -> Payload:
    return model.model_validate(payload).model_dump(mode="json", exclude_none=True)


def assert_valid_211(model: type[BaseModel], out: Payload) -> None:
    """`out` is a 2.1.1 object with nothing 2.1.1 does not know (unknown fields would be dropped
    by the model, and the dump would differ)."""
    assert wire(model, out) == out


# The 2.1.1 spec's examples (shortened to their distinct shapes). Two slips in the spec's
# Session and CDR examples are corrected: country "BE" for the alpha-3 "BEL", and the CDR
# tariff's price "2.00" as the number it is.


def example_location() -> Payload:
    connector = {
        "id": "1",
        "standard": "IEC_62196_T2",
        "format": "CABLE",
        "power_type": "AC_3_PHASE",
        "voltage": 220,
        "amperage": 16,
        "tariff_id": "11",
        "last_updated": "2015-03-16T10:10:02Z",
    }
    return {
        "id": "LOC1",
        "type": "ON_STREET",
        "name": "Gent Zuid",
        "address": "F.Rooseveltlaan 3A",
        "city": "Gent",
        "postal_code": "9000",
        "country": "BEL",
        "coordinates": {"latitude": "51.047599", "longitude": "3.729944"},
        "evses": [
            {
                "uid": "3256",
                "evse_id": "BE-BEC-E041503001",
                "status": "AVAILABLE",
                "status_schedule": [],
                "capabilities": ["RESERVABLE"],
                "connectors": [
                    connector,
                    connector
                    | {"id": "2", "format": "SOCKET", "last_updated": "2015-03-18T08:12:01Z"},
                ],
                "physical_reference": "1",
                "floor_level": "-1",
                "last_updated": "2015-06-28T08:12:01Z",
            }
        ],
        "operator": {"name": "BeCharged"},
        "last_updated": "2015-06-29T20:39:09Z",
    }


def example_session_location() -> Payload:
    return {
        "id": "LOC1",
        "type": "ON_STREET",
        "name": "Gent Zuid",
        "address": "F.Rooseveltlaan 3A",
        "city": "Gent",
        "postal_code": "9000",
        "country": "BEL",
        "coordinates": {"latitude": "3.729944", "longitude": "51.047599"},
        "evses": [
            {
                "uid": "3256",
                "evse_id": "BE-BEC-E041503003",
                "status": "AVAILABLE",
                "connectors": [
                    {
                        "id": "1",
                        "standard": "IEC_62196_T2",
                        "format": "SOCKET",
                        "power_type": "AC_1_PHASE",
                        "voltage": 230,
                        "amperage": 64,
                        "tariff_id": "11",
                        "last_updated": "2015-06-29T23:09:10Z",
                    }
                ],
                "last_updated": "2015-06-29T23:09:10Z",
            }
        ],
        "last_updated": "2015-06-29T23:09:10Z",
    }


def example_session() -> Payload:
    return {
        "id": "101",
        "start_datetime": "2015-06-29T22:39:09Z",
        "end_datetime": "2015-06-29T23:50:16Z",
        "kwh": 41.00,
        "auth_id": "DE8ACC12E46L89",
        "auth_method": "WHITELIST",
        "location": example_session_location(),
        "currency": "EUR",
        "charging_periods": [
            {
                "start_date_time": "2015-06-29T22:39:09Z",
                "dimensions": [
                    {"type": "ENERGY", "volume": 120},
                    {"type": "MAX_CURRENT", "volume": 30},
                ],
            },
            {
                "start_date_time": "2015-06-29T23:07:09Z",
                "dimensions": [{"type": "PARKING_TIME", "volume": 0.718}],
            },
        ],
        "total_cost": 8.50,
        "status": "COMPLETED",
        "last_updated": "2015-06-29T23:09:10Z",
    }


def example_tariff() -> Payload:
    """The complex Tariff example."""
    return {
        "id": "11",
        "currency": "EUR",
        "tariff_alt_url": "https://company.com/tariffs/11",
        "tariff_alt_text": [{"language": "en", "text": "2 euro p/hour"}],
        "elements": [
            {"price_components": [{"type": "FLAT", "price": 2.50, "step_size": 1}]},
            {
                "price_components": [{"type": "TIME", "price": 1.00, "step_size": 900}],
                "restrictions": {"max_power": 32.00},
            },
            {
                "price_components": [{"type": "TIME", "price": 2.00, "step_size": 600}],
                "restrictions": {
                    "min_power": 32.00,
                    "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"],
                },
            },
            {
                "price_components": [{"type": "PARKING_TIME", "price": 5.00, "step_size": 300}],
                "restrictions": {
                    "start_time": "09:00",
                    "end_time": "18:00",
                    "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"],
                },
            },
        ],
        "last_updated": "2015-06-29T20:39:09Z",
    }


def example_free_tariff() -> Payload:
    return {
        "id": "12",
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "FLAT", "price": 0.00, "step_size": 0}]}],
        "last_updated": "2015-06-29T20:39:09Z",
    }


def example_cdr() -> Payload:
    location = example_session_location()
    location["evses"][0]["connectors"][0]["last_updated"] = "2015-06-29T21:39:01Z"
    location["evses"][0]["last_updated"] = "2015-06-29T21:39:01Z"
    location["last_updated"] = "2015-06-29T21:39:01Z"
    return {
        "id": "12345",
        "start_date_time": "2015-06-29T21:39:09Z",
        "stop_date_time": "2015-06-29T23:37:32Z",
        "auth_id": "DE8ACC12E46L89",
        "auth_method": "WHITELIST",
        "location": location,
        "currency": "EUR",
        "tariffs": [
            {
                "id": "12",
                "currency": "EUR",
                "elements": [
                    {"price_components": [{"type": "TIME", "price": 2.00, "step_size": 300}]}
                ],
                "last_updated": "2015-02-02T14:15:01Z",
            }
        ],
        "charging_periods": [
            {
                "start_date_time": "2015-06-29T21:39:09Z",
                "dimensions": [{"type": "TIME", "volume": 1.973}],
            }
        ],
        "total_cost": 4.00,
        "total_energy": 15.342,
        "total_time": 1.973,
        "last_updated": "2015-06-29T22:01:13Z",
    }


def example_token() -> Payload:
    return {
        "uid": "012345678",
        "type": "RFID",
        "auth_id": "DE8ACC12E46L89",
        "visual_number": "DF000-2001-8999",
        "issuer": "TheNewMotion",
        "valid": True,
        "whitelist": "ALLOWED",
        "last_updated": "2015-06-29T22:39:09Z",
    }


def example_credentials() -> Payload:
    return {
        "url": "https://example.com/ocpi/cpo/versions/",
        "token": "ebf3b399-779f-4497-9b9d-ac6ad3cc44d2",
        "party_id": "EXA",
        "country_code": "NL",
        "business_details": {
            "name": "Example Operator",
            "logo": {
                "url": "https://example.com/img/logo.jpg",
                "thumbnail": "https://example.com/img/logo_thumb.jpg",
                "category": "OPERATOR",
                "type": "jpeg",
                "width": 512,
                "height": 512,
            },
            "website": "http://example.com",
        },
    }


# The commands module has no JSON examples; these follow its tables.


def example_requests() -> dict[CommandType, Payload]:
    url = "https://emsp.example.com/ocpi/2.1.1/commands/42"
    return {
        CommandType.START_SESSION: {
            "response_url": url,
            "token": example_token(),
            "location_id": "LOC1",
            "evse_uid": "3256",
        },
        CommandType.STOP_SESSION: {"response_url": url, "session_id": "101"},
        CommandType.UNLOCK_CONNECTOR: {
            "response_url": url,
            "location_id": "LOC1",
            "evse_uid": "3256",
            "connector_id": "1",
        },
        CommandType.RESERVE_NOW: {
            "response_url": url,
            "token": example_token(),
            "expiry_date": "2015-06-29T23:39:09Z",
            "reservation_id": 42,
            "location_id": "LOC1",
        },
    }


@pytest.mark.parametrize(
    ("model", "example"),
    [
        (Location, example_location),
        (Session, example_session),
        (CDR, example_cdr),
        (Tariff, example_tariff),
        (Tariff, example_free_tariff),
        (Token, example_token),
        (Credentials, example_credentials),
    ],
)
def test_spec_example_validates_and_round_trips(model: type[BaseModel], example: Any) -> None:
    assert wire(model, example()) == example()


@pytest.mark.parametrize("command", list(CommandType))
def test_spec_command_requests_validate(command: CommandType) -> None:
    assert wire(REQUESTS[command], example_requests()[command]) == example_requests()[command]


def test_2_1_1_has_no_cancel_reservation() -> None:
    assert "CANCEL_RESERVATION" not in {c.value for c in CommandType}
    assert set(REQUESTS) == set(CommandType)


def test_timestamps_go_out_without_fractions() -> None:
    location = stored(Location221, spec_location())
    assert location["last_updated"] == "2015-06-29T20:39:09.000Z"
    assert location_out(location)["last_updated"] == "2015-06-29T20:39:09Z"


# Locations


def test_spec_location_goes_out_as_a_valid_2_1_1_location_keeping_shared_values() -> None:
    location = stored(Location221, spec_location())
    out = location_out(location)
    assert_valid_211(Location, out)
    for key in ("id", "name", "address", "city", "postal_code", "country", "coordinates"):
        assert out[key] == location[key]
    assert out["operator"] == {"name": "BeCharged"}
    assert out["time_zone"] == "Europe/Brussels"
    assert out["type"] == "ON_STREET"
    for key in ("country_code", "party_id", "publish", "parking_type"):
        assert key not in out
    evse = out["evses"][0]
    assert (evse["uid"], evse["evse_id"], evse["status"]) == (
        "3256",
        "BE*BEC*E041503001",
        "AVAILABLE",
    )
    assert (evse["physical_reference"], evse["floor_level"]) == ("1", "-1")
    assert evse["connectors"][0] == {
        "id": "1",
        "standard": "IEC_62196_T2",
        "format": "CABLE",
        "power_type": "AC_3_PHASE",
        "voltage": 220,
        "amperage": 16,
        "tariff_id": "11",  # the first of ["11", "13"]
        "last_updated": "2015-03-16T10:10:02Z",
    }
    assert out["energy_mix"] == {
        "is_green_energy": True,
        "energy_sources": [{"source": "SOLAR", "percentage": 100}],
        "supplier_name": "Greenpeace Energy eG",
    }


def test_evse_and_connector_out_match_their_place_in_the_location() -> None:
    location = stored(Location221, spec_location())
    out = location_out(location)
    assert evse_out(location["evses"][1]) == out["evses"][1]
    assert connector_out(location["evses"][0]["connectors"][1]) == out["evses"][0]["connectors"][1]
    assert_valid_211(EVSE, out["evses"][1])
    assert_valid_211(Connector, out["evses"][0]["connectors"][1])


def test_converters_do_not_change_their_input() -> None:
    location = stored(Location221, spec_location())
    before = copy.deepcopy(location)
    location_out(location)
    evse_out(location["evses"][0])
    assert location == before


@pytest.mark.parametrize(
    ("parking_type", "location_type"),
    [
        ("ON_STREET", "ON_STREET"),
        ("PARKING_GARAGE", "PARKING_GARAGE"),
        ("UNDERGROUND_GARAGE", "UNDERGROUND_GARAGE"),
        ("PARKING_LOT", "PARKING_LOT"),
        ("ON_DRIVEWAY", "OTHER"),
        ("ALONG_MOTORWAY", "OTHER"),
        (None, "UNKNOWN"),
    ],
)
def test_parking_type_becomes_the_location_type(
    parking_type: str | None, location_type: str
) -> None:
    payload = spec_location()
    del payload["parking_type"]
    if parking_type is not None:
        payload["parking_type"] = parking_type
    assert location_out(stored(Location221, payload))["type"] == location_type


def test_only_capabilities_and_facilities_2_1_1_knows_go_out() -> None:
    payload = spec_location()
    payload["evses"][0]["capabilities"] = ["CHIP_CARD_SUPPORT", "RESERVABLE", "PED_TERMINAL"]
    payload["evses"][1]["capabilities"] = ["START_SESSION_CONNECTOR_REQUIRED"]
    payload["facilities"] = ["BIKE_SHARING", "WIFI", "METRO_STATION", "PARKING_LOT"]
    out = location_out(stored(Location221, payload))
    assert out["evses"][0]["capabilities"] == ["RESERVABLE"]
    assert "capabilities" not in out["evses"][1]
    assert out["facilities"] == ["WIFI"]


def gbt_connector(connector_id: str = "9", **changes: Any) -> Payload:
    return {
        "id": connector_id,
        "standard": "GBT_DC",
        "format": "CABLE",
        "power_type": "DC",
        "max_voltage": 750,
        "max_amperage": 250,
        "last_updated": "2015-03-16T10:10:02Z",
    } | changes


def test_a_connector_2_1_1_lacks_is_left_out_and_an_evse_left_empty_with_it() -> None:
    payload = spec_location()
    payload["evses"][0]["connectors"].append(gbt_connector())
    payload["evses"][0]["connectors"].append(
        gbt_connector("8", standard="IEC_62196_T2", power_type="AC_2_PHASE_SPLIT")
    )
    payload["evses"][1]["connectors"] = [gbt_connector("1")]
    location = stored(Location221, payload)
    out = location_out(location)
    assert [e["uid"] for e in out["evses"]] == ["3256"]
    assert [c["id"] for c in out["evses"][0]["connectors"]] == ["1", "2"]
    with pytest.raises(NotIn211):
        evse_out(location["evses"][1])
    with pytest.raises(NotIn211):
        connector_out(location["evses"][0]["connectors"][2])
    with pytest.raises(NotIn211):
        connector_out(location["evses"][0]["connectors"][3])


def test_a_location_without_evses_2_1_1_can_express_goes_out_without_evses() -> None:
    payload = spec_location()
    payload["evses"] = [payload["evses"][0] | {"connectors": [gbt_connector()]}]
    out = location_out(stored(Location221, payload))
    assert "evses" not in out
    assert_valid_211(Location, out)


def test_a_connector_without_tariffs_has_no_tariff_id() -> None:
    payload = spec_location()
    del payload["evses"][0]["connectors"][0]["tariff_ids"]
    payload["evses"][0]["connectors"][0]["max_electric_power"] = 11000
    out = location_out(stored(Location221, payload))["evses"][0]["connectors"][0]
    assert "tariff_id" not in out and "max_electric_power" not in out


def test_hours_are_twentyfourseven_or_regular_hours() -> None:
    payload = spec_location()
    out = location_out(stored(Location221, payload))
    assert out["opening_times"] == {
        "regular_hours": [
            {"weekday": 1, "period_begin": "07:00", "period_end": "18:00"},
            {"weekday": 7, "period_begin": "00:00", "period_end": "23:59"},
        ],
        "exceptional_closings": [
            {"period_begin": "2018-12-25T03:00:00Z", "period_end": "2018-12-25T05:00:00Z"}
        ],
    }
    payload["opening_times"] = {"twentyfourseven": True}
    assert location_out(stored(Location221, payload))["opening_times"] == {"twentyfourseven": True}


def test_environmental_impact_category_goes_out_as_source() -> None:
    payload = spec_location()
    payload["energy_mix"]["environ_impact"] = [{"category": "CARBON_DIOXIDE", "amount": 372}]
    out = location_out(stored(Location221, payload))
    assert out["energy_mix"]["environ_impact"] == [{"source": "CARBON_DIOXIDE", "amount": 372}]


@pytest.mark.parametrize(
    ("given", "sent"),
    [("51.04759", "51.047590"), ("51.0475994", "51.047599"), ("-3.7299445", "-3.729944")],
)
def test_coordinates_go_out_with_six_decimals(given: str, sent: str) -> None:
    payload = spec_location()
    payload["coordinates"]["latitude"] = given
    payload["evses"][0]["coordinates"] = {"latitude": "1.00000", "longitude": given}
    out = location_out(stored(Location221, payload))
    assert out["coordinates"]["latitude"] == sent
    assert out["evses"][0]["coordinates"] == {"latitude": "1.000000", "longitude": sent}


def test_text_is_made_ascii_and_cut_to_the_2_1_1_length() -> None:
    payload = spec_location()
    payload["address"] = "Rue de l'Église 12, " + "x" * 60
    payload["city"] = "Liège"
    payload["operator"] = {"name": "Énergie ☀ Wallonie"}
    payload["directions"] = [{"language": "fr", "text": "À gauche"}]
    out = location_out(stored(Location221, payload))
    assert out["address"] == ("Rue de l'Eglise 12, " + "x" * 60)[:45]
    assert out["city"] == "Liege"
    assert out["operator"] == {"name": "Energie  Wallonie"}
    assert out["directions"] == [{"language": "fr", "text": "A gauche"}]
    assert ascii_text("ab   cd", 4) == "ab"


def test_a_missing_postal_code_goes_out_empty_and_state_is_dropped() -> None:
    payload = spec_location()
    del payload["postal_code"]
    payload["state"] = "Oost-Vlaanderen"
    out = location_out(stored(Location221, payload))
    assert out["postal_code"] == ""
    assert "state" not in out


# Tariffs


def spec_tariff_221() -> Payload:
    """A 2.2.1 Tariff with every field 2.1.1 lacks."""
    return {
        "country_code": "DE",
        "party_id": "ALL",
        "id": "12",
        "currency": "EUR",
        "type": "REGULAR",
        "tariff_alt_url": "https://company.com/tariffs/12",
        "tariff_alt_text": [{"language": "en", "text": "2.50 euro start fee, then by time"}],
        "min_price": {"excl_vat": 0.5, "incl_vat": 0.55},
        "max_price": {"excl_vat": 10.0, "incl_vat": 11.0},
        "elements": [
            {"price_components": [{"type": "FLAT", "price": 2.5, "vat": 15.0, "step_size": 1}]},
            {
                "price_components": [{"type": "TIME", "price": 1.0, "vat": 20.0, "step_size": 900}],
                "restrictions": {"max_power": 32.0},
            },
            {
                "price_components": [{"type": "TIME", "price": 3.0, "step_size": 60}],
                "restrictions": {"reservation": "RESERVATION"},
            },
            {
                "price_components": [{"type": "ENERGY", "price": 0.4, "step_size": 1}],
                "restrictions": {"min_current": 32.0},
            },
            {
                "price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}],
                "restrictions": {"max_current": 32.0, "min_kwh": 1.0},
            },
            {
                "price_components": [
                    {"type": "PARKING_TIME", "price": 5.0, "vat": 20.0, "step_size": 300}
                ],
                "restrictions": {
                    "start_time": "18:00",
                    "end_time": "09:00",
                    "start_date": "2015-01-01",
                    "end_date": "2016-01-01",
                    "min_duration": 0,
                    "max_duration": 7200,
                    "day_of_week": ["SATURDAY"],
                },
            },
            {"price_components": [{"type": "ENERGY", "price": 0.25, "step_size": 1}]},
        ],
        "start_date_time": "2015-01-01T00:00:00Z",
        "end_date_time": "2016-01-01T00:00:00Z",
        "last_updated": "2015-06-29T20:39:09Z",
    }


def test_tariff_goes_out_without_what_2_1_1_lacks_keeping_element_order() -> None:
    out = tariff_out(stored(Tariff221, spec_tariff_221()))
    assert_valid_211(Tariff, out)
    assert out == {
        "id": "12",
        "currency": "EUR",
        "tariff_alt_text": [{"language": "en", "text": "2.50 euro start fee, then by time"}],
        "tariff_alt_url": "https://company.com/tariffs/12",
        "elements": [
            {"price_components": [{"type": "FLAT", "price": 2.5, "step_size": 1}]},
            {
                "price_components": [{"type": "TIME", "price": 1.0, "step_size": 900}],
                "restrictions": {"max_power": 32.0},
            },
            {
                "price_components": [{"type": "PARKING_TIME", "price": 5.0, "step_size": 300}],
                "restrictions": {
                    "start_time": "18:00",
                    "end_time": "09:00",
                    "start_date": "2015-01-01",
                    "end_date": "2016-01-01",
                    "min_duration": 0,
                    "max_duration": 7200,
                    "day_of_week": ["SATURDAY"],
                },
            },
            {"price_components": [{"type": "ENERGY", "price": 0.25, "step_size": 1}]},
        ],
        "last_updated": "2015-06-29T20:39:09Z",
    }


def test_the_2_1_1_complex_tariff_comes_back_from_its_2_2_1_form() -> None:
    example = example_tariff()
    as_221 = copy.deepcopy(example) | {"country_code": "BE", "party_id": "BEC"}
    for element in as_221["elements"]:
        for component in element["price_components"]:
            component["vat"] = 21.0
    assert tariff_out(stored(Tariff221, as_221)) == example


def test_a_tariff_of_only_reservation_elements_has_no_2_1_1_form() -> None:
    payload = spec_tariff_221()
    payload["elements"] = [payload["elements"][2]]
    with pytest.raises(NotIn211):
        tariff_out(stored(Tariff221, payload))


# Tokens


def test_a_2_1_1_token_is_stored_as_2_2_1_and_goes_out_as_it_came() -> None:
    token = Token.model_validate(example_token())
    kept = token_in(token, "NL", "TNM")
    assert wire(Token221, kept) == kept
    assert (kept["country_code"], kept["party_id"]) == ("NL", "TNM")
    assert kept["contract_id"] == "DE8ACC12E46L89"
    assert "auth_id" not in kept
    assert token_out(kept) == example_token()


@pytest.mark.parametrize(
    ("token_type", "sent"),
    [("RFID", "RFID"), ("OTHER", "OTHER"), ("AD_HOC_USER", "OTHER"), ("APP_USER", "OTHER")],
)
def test_token_types_2_1_1_lacks_go_out_as_other(token_type: str, sent: str) -> None:
    kept = token_in(Token.model_validate(example_token()), "NL", "TNM")
    kept |= {
        "type": token_type,
        "group_id": "G1",
        "default_profile_type": "GREEN",
        "energy_contract": {"supplier_name": "Greenpeace"},
    }
    out = token_out(stored(Token221, kept))
    assert_valid_211(Token, out)
    assert out == example_token() | {"type": sent}


def test_location_references_go_out_without_connectors() -> None:
    out = location_references_out({"location_id": "LOC1", "evse_uids": ["3256", "3257"]})
    assert out == {"location_id": "LOC1", "evse_uids": ["3256", "3257"]}
    assert_valid_211(LocationReferences, out)
    assert location_references_out({"location_id": "LOC1"}) == {"location_id": "LOC1"}


def test_a_2_1_1_authorization_answer_is_kept_as_2_2_1_with_the_token_asked_about() -> None:
    token = token_in(Token.model_validate(example_token()), "NL", "TNM")
    info = AuthorizationInfo.model_validate(
        {
            "allowed": "ALLOWED",
            "location": {"location_id": "LOC1", "evse_uids": ["3256"], "connector_ids": ["1"]},
            "info": {"language": "en", "text": "Welcome"},
        }
    )
    kept = authorization_info_in(info, token)
    assert wire(AuthorizationInfo221, kept) == kept
    assert kept == {
        "allowed": "ALLOWED",
        "token": token,
        "location": {"location_id": "LOC1", "evse_uids": ["3256"]},
        "info": {"language": "en", "text": "Welcome"},
    }
    bare = authorization_info_in(AuthorizationInfo.model_validate({"allowed": "BLOCKED"}), token)
    assert bare == {"allowed": "BLOCKED", "token": token}


# Sessions


def session_221(**changes: Any) -> Payload:
    return {
        "country_code": "BE",
        "party_id": "BEC",
        "id": "101",
        "start_date_time": "2015-06-29T22:39:09Z",
        "end_date_time": "2015-06-29T23:50:16Z",
        "kwh": 41.0,
        "cdr_token": {
            "country_code": "DE",
            "party_id": "TNM",
            "uid": "012345678",
            "type": "APP_USER",
            "contract_id": "DE8ACC12E46L89",
        },
        "auth_method": "WHITELIST",
        "location_id": "LOC1",
        "evse_uid": "3256",
        "connector_id": "2",
        "currency": "EUR",
        "charging_periods": [
            {
                "start_date_time": "2015-06-29T22:39:09Z",
                "dimensions": [
                    {"type": "ENERGY", "volume": 120},
                    {"type": "MAX_CURRENT", "volume": 30},
                    {"type": "STATE_OF_CHARGE", "volume": 80},
                ],
                "tariff_id": "13",
            },
            {
                "start_date_time": "2015-06-29T22:40:54Z",
                "dimensions": [{"type": "POWER", "volume": 11}],
            },
            {
                "start_date_time": "2015-06-29T23:07:09Z",
                "dimensions": [{"type": "PARKING_TIME", "volume": 0.718}],
            },
        ],
        "total_cost": {"excl_vat": 8.5, "incl_vat": 9.35},
        "status": "COMPLETED",
        "last_updated": "2015-06-29T23:50:17Z",
    } | changes


def test_session_goes_out_at_its_evse_and_connector_with_what_2_1_1_holds() -> None:
    location = stored(Location221, spec_location())
    out = session_out(stored(Session221, session_221()), location)
    assert_valid_211(Session, out)
    place = out["location"]
    assert [e["uid"] for e in place["evses"]] == ["3256"]
    assert [c["id"] for c in place["evses"][0]["connectors"]] == ["2"]
    assert place["evses"][0]["connectors"][0]["tariff_id"] == "13"
    assert {k: v for k, v in out.items() if k != "location"} == {
        "id": "101",
        "start_datetime": "2015-06-29T22:39:09Z",
        "end_datetime": "2015-06-29T23:50:16Z",
        "kwh": 41.0,
        "auth_id": "DE8ACC12E46L89",
        "auth_method": "WHITELIST",
        "currency": "EUR",
        "charging_periods": [
            {
                "start_date_time": "2015-06-29T22:39:09Z",
                "dimensions": [
                    {"type": "ENERGY", "volume": 120},
                    {"type": "MAX_CURRENT", "volume": 30},
                ],
            },
            {
                "start_date_time": "2015-06-29T23:07:09Z",
                "dimensions": [{"type": "PARKING_TIME", "volume": 0.718}],
            },
        ],
        "total_cost": 8.5,
        "status": "COMPLETED",
        "last_updated": "2015-06-29T23:50:17Z",
    }


@pytest.mark.parametrize(
    ("status", "sent"),
    [
        ("ACTIVE", "ACTIVE"),
        ("COMPLETED", "COMPLETED"),
        ("INVALID", "INVALID"),
        ("PENDING", "PENDING"),
        ("RESERVATION", "PENDING"),
    ],
)
def test_a_reservation_session_goes_out_pending(status: str, sent: str) -> None:
    location = stored(Location221, spec_location())
    session = stored(Session221, session_221(status=status))
    assert session_out(session, location)["status"] == sent


def test_a_remote_started_session_goes_out_as_auth_request() -> None:
    location = stored(Location221, spec_location())
    session = stored(Session221, session_221(auth_method="COMMAND"))
    assert session_out(session, location)["auth_method"] == "AUTH_REQUEST"


def test_a_session_without_cost_or_periods_goes_out_without_them() -> None:
    location = stored(Location221, spec_location())
    session = session_221(status="ACTIVE")
    del session["total_cost"], session["end_date_time"]
    session["charging_periods"] = [session["charging_periods"][1]]  # POWER only
    out = session_out(stored(Session221, session), location)
    assert "total_cost" not in out and "charging_periods" not in out
    assert "end_datetime" not in out


def test_a_session_at_an_evse_the_location_no_longer_has_carries_the_location_alone() -> None:
    location = stored(Location221, spec_location())
    out = session_out(stored(Session221, session_221(evse_uid="GONE")), location)
    assert_valid_211(Session, out)
    assert "evses" not in out["location"]
    assert out["location"]["id"] == "LOC1"


# CDRs


def cdr_221(**changes: Any) -> Payload:
    return {
        "country_code": "BE",
        "party_id": "BEC",
        "id": "12345",
        "start_date_time": "2015-06-29T21:39:09Z",
        "end_date_time": "2015-06-29T23:37:32Z",
        "session_id": "101",
        "cdr_token": {
            "country_code": "DE",
            "party_id": "TNM",
            "uid": "012345678",
            "type": "RFID",
            "contract_id": "DE8ACC12E46L89",
        },
        "auth_method": "WHITELIST",
        "authorization_reference": "AUTH1",
        "cdr_location": {
            "id": "LOC1",
            "name": "Gent Zuid",
            "address": "F.Rooseveltlaan 3A",
            "city": "Gent",
            "postal_code": "9000",
            "country": "BEL",
            "coordinates": {"latitude": "51.047599", "longitude": "3.729944"},
            "evse_uid": "3256",
            "evse_id": "BE*BEC*E041503001",
            "connector_id": "1",
            "connector_standard": "IEC_62196_T2",
            "connector_format": "CABLE",
            "connector_power_type": "AC_3_PHASE",
        },
        "meter_id": "M-1",
        "currency": "EUR",
        "tariffs": [
            {
                "country_code": "BE",
                "party_id": "BEC",
                "id": "12",
                "currency": "EUR",
                "elements": [
                    {
                        "price_components": [
                            {"type": "TIME", "price": 2.0, "vat": 10.0, "step_size": 300}
                        ]
                    }
                ],
                "last_updated": "2015-02-02T14:15:01Z",
            }
        ],
        "charging_periods": [
            {
                "start_date_time": "2015-06-29T21:39:09Z",
                "dimensions": [{"type": "TIME", "volume": 1.973}, {"type": "POWER", "volume": 7}],
                "tariff_id": "12",
            }
        ],
        "total_cost": {"excl_vat": 4.0, "incl_vat": 4.4},
        "total_energy": 15.342,
        "total_time": 1.973,
        "total_time_cost": {"excl_vat": 4.0, "incl_vat": 4.4},
        "total_parking_time": 0.0,
        "remark": "Session stopped by the driver",
        "last_updated": "2015-06-29T22:01:13Z",
    } | changes


def test_cdr_goes_out_with_its_location_narrowed_to_its_evse_and_connector() -> None:
    location = stored(Location221, spec_location())
    out = cdr_out(stored(CDR221, cdr_221()), location)
    assert_valid_211(CDR, out)
    assert out["location"] == location_out(
        location
        | {
            "evses": [
                location["evses"][0] | {"connectors": [location["evses"][0]["connectors"][0]]}
            ]
        }
    )
    assert {k: v for k, v in out.items() if k != "location"} == {
        "id": "12345",
        "start_date_time": "2015-06-29T21:39:09Z",
        "stop_date_time": "2015-06-29T23:37:32Z",
        "auth_id": "DE8ACC12E46L89",
        "auth_method": "WHITELIST",
        "meter_id": "M-1",
        "currency": "EUR",
        "tariffs": [
            {
                "id": "12",
                "currency": "EUR",
                "elements": [
                    {"price_components": [{"type": "TIME", "price": 2.0, "step_size": 300}]}
                ],
                "last_updated": "2015-02-02T14:15:01Z",
            }
        ],
        "charging_periods": [
            {
                "start_date_time": "2015-06-29T21:39:09Z",
                "dimensions": [{"type": "TIME", "volume": 1.973}],
            }
        ],
        "total_cost": 4.0,
        "total_energy": 15.342,
        "total_time": 1.973,
        "total_parking_time": 0.0,
        "remark": "Session stopped by the driver",
        "last_updated": "2015-06-29T22:01:13Z",
    }


@pytest.mark.parametrize("location", [None, "without the EVSE"])
def test_cdr_location_is_built_from_the_cdr_when_the_location_cannot_give_it(
    location: str | None,
) -> None:
    given = None
    if location is not None:
        given = stored(Location221, spec_location())
        given["evses"] = given["evses"][1:]
    out = cdr_out(stored(CDR221, cdr_221()), given)
    assert_valid_211(CDR, out)
    assert out["location"] == {
        "id": "LOC1",
        "type": "UNKNOWN",
        "name": "Gent Zuid",
        "address": "F.Rooseveltlaan 3A",
        "city": "Gent",
        "postal_code": "9000",
        "country": "BEL",
        "coordinates": {"latitude": "51.047599", "longitude": "3.729944"},
        "evses": [
            {
                "uid": "3256",
                "evse_id": "BE*BEC*E041503001",
                "status": "UNKNOWN",
                "connectors": [
                    {
                        "id": "1",
                        "standard": "IEC_62196_T2",
                        "format": "CABLE",
                        "power_type": "AC_3_PHASE",
                        "voltage": 0,
                        "amperage": 0,
                        "last_updated": "2015-06-29T22:01:13Z",
                    }
                ],
                "last_updated": "2015-06-29T22:01:13Z",
            }
        ],
        "last_updated": "2015-06-29T22:01:13Z",
    }


def test_a_cdr_at_a_connector_2_1_1_lacks_carries_its_location_without_evses() -> None:
    cdr = cdr_221()
    cdr["cdr_location"] |= {"connector_standard": "GBT_DC", "connector_power_type": "DC"}
    out = cdr_out(stored(CDR221, cdr), None)
    assert_valid_211(CDR, out)
    assert "evses" not in out["location"]


def test_a_credit_cdr_is_not_sent_to_a_2_1_1_peer() -> None:
    credit = cdr_221(id="12345-C", credit=True, credit_reference_id="12345")
    credit["total_cost"] = {"excl_vat": -4.0, "incl_vat": -4.4}
    with pytest.raises(NotIn211, match="credit"):
        cdr_out(stored(CDR221, credit), None)


def test_a_cdr_id_longer_than_2_1_1_allows_is_not_sent() -> None:
    with pytest.raises(NotIn211, match="36"):
        cdr_out(stored(CDR221, cdr_221(id="X" * 37)), None)


def test_cdr_periods_without_2_1_1_dimensions_give_way_to_the_totals() -> None:
    cdr = cdr_221(auth_method="COMMAND")
    cdr["charging_periods"][0]["dimensions"] = [{"type": "STATE_OF_CHARGE", "volume": 80}]
    cdr["tariffs"][0]["elements"][0]["restrictions"] = {"reservation": "RESERVATION"}
    out = cdr_out(stored(CDR221, cdr), None)
    assert out["charging_periods"] == [
        {
            "start_date_time": "2015-06-29T21:39:09Z",
            "dimensions": [
                {"type": "ENERGY", "volume": 15.342},
                {"type": "TIME", "volume": 1.973},
            ],
        }
    ]
    assert "tariffs" not in out  # its only element is a reservation's
    assert out["auth_method"] == "AUTH_REQUEST"


# Commands


@pytest.mark.parametrize("command", list(CommandType))
def test_a_2_1_1_command_request_is_stored_as_the_2_2_1_request(command: CommandType) -> None:
    request = REQUESTS[command].model_validate(example_requests()[command])
    kept = request_in(command, request, "NL", "TNM")
    assert wire(REQUESTS_221[CommandType221(command.value)], kept) == kept
    example = example_requests()[command]
    for key in ("response_url", "location_id", "evse_uid", "connector_id", "session_id"):
        assert kept.get(key) == example.get(key)
    if "token" in example:
        assert kept["token"] == token_in(Token.model_validate(example_token()), "NL", "TNM")


def test_reserve_now_reservation_id_is_stored_as_a_string() -> None:
    request = ReserveNow.model_validate(example_requests()[CommandType.RESERVE_NOW])
    kept = request_in(CommandType.RESERVE_NOW, request, "NL", "TNM")
    assert kept["reservation_id"] == "42"
    assert kept["expiry_date"] == "2015-06-29T23:39:09.000Z"


def test_request_in_wants_the_model_of_its_command() -> None:
    request = StopSession.model_validate(example_requests()[CommandType.STOP_SESSION])
    with pytest.raises(TypeError):
        request_in(CommandType.START_SESSION, request, "NL", "TNM")


@pytest.mark.parametrize("result", ["ACCEPTED", "NOT_SUPPORTED", "REJECTED", "UNKNOWN_SESSION"])
def test_command_response_goes_out_as_its_result_alone(result: str) -> None:
    out = response_out(
        {"result": result, "timeout": 30, "message": [{"language": "en", "text": "x"}]}
    )
    assert out == {"result": result}
    assert_valid_211(CommandResponse, out)


@pytest.mark.parametrize(
    ("result", "sent"),
    [
        ("ACCEPTED", "ACCEPTED"),
        ("CANCELED_RESERVATION", "REJECTED"),
        ("EVSE_OCCUPIED", "REJECTED"),
        ("EVSE_INOPERATIVE", "REJECTED"),
        ("FAILED", "REJECTED"),
        ("NOT_SUPPORTED", "NOT_SUPPORTED"),
        ("REJECTED", "REJECTED"),
        ("TIMEOUT", "TIMEOUT"),
        ("UNKNOWN_RESERVATION", "REJECTED"),
    ],
)
def test_command_result_goes_out_as_the_nearest_2_1_1_response(result: str, sent: str) -> None:
    assert result_out({"result": result, "message": [{"language": "en", "text": "x"}]}) == {
        "result": sent
    }


def test_every_2_2_1_command_result_has_a_2_1_1_answer() -> None:
    assert len(RESULTS) == 9


# Credentials


def test_2_1_1_credentials_are_stored_with_one_role_and_go_out_as_they_came() -> None:
    kept = credentials_in(Credentials.model_validate(example_credentials()))
    assert wire(Credentials221, kept) == kept
    assert kept["roles"] == [
        {
            "role": "EMSP",
            "business_details": example_credentials()["business_details"],
            "party_id": "EXA",
            "country_code": "NL",
        }
    ]
    assert credentials_out(kept) == example_credentials()
    as_cpo = credentials_in(Credentials.model_validate(example_credentials()), role="CPO")
    assert as_cpo["roles"][0]["role"] == "CPO"


def test_credentials_go_out_as_their_first_role() -> None:
    kept = credentials_in(Credentials.model_validate(example_credentials()), role="CPO")
    kept["roles"].append(kept["roles"][0] | {"role": "EMSP", "party_id": "EMS"})
    out = credentials_out(kept)
    assert (out["party_id"], out["country_code"]) == ("EXA", "NL")
    assert "roles" not in out


# Bad 2.1.1 input is refused


def refused(model: type[BaseModel], payload: Payload, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(payload)
    locations = {".".join(map(str, e["loc"])) for e in raised.value.errors()}
    assert any(loc.startswith(field) for loc in locations), locations


def without(payload: Payload, key: str) -> Payload:
    return {k: v for k, v in payload.items() if k != key}


@pytest.mark.parametrize(
    ("model", "payload", "field"),
    [
        (
            ReserveNow,
            example_requests()[CommandType.RESERVE_NOW] | {"reservation_id": "42"},
            "reservation_id",
        ),
        (
            ReserveNow,
            example_requests()[CommandType.RESERVE_NOW] | {"reservation_id": "R1"},
            "reservation_id",
        ),
        (Token, without(example_token(), "auth_id"), "auth_id"),
        (Token, example_token() | {"uid": "u" * 37}, "uid"),
        (Token, example_token() | {"type": "APP_USER"}, "type"),
        (Token, example_token() | {"issuer": "Thé"}, "issuer"),
        (Token, example_token() | {"issuer": ""}, "issuer"),
        (
            StartSession,
            example_requests()[CommandType.START_SESSION] | {"location_id": "L" * 40},
            "location_id",
        ),
        (
            UnlockConnector,
            without(example_requests()[CommandType.UNLOCK_CONNECTOR], "evse_uid"),
            "evse_uid",
        ),
        (Credentials, example_credentials() | {"token": "with space"}, "token"),
        (Credentials, example_credentials() | {"token": "t" * 65}, "token"),
        (Credentials, without(example_credentials(), "business_details"), "business_details"),
        (Session, example_session() | {"status": "RESERVATION"}, "status"),
        (Session, example_session() | {"total_cost": {"excl_vat": 8.5}}, "total_cost"),
        (CDR, example_cdr() | {"id": "C" * 37}, "id"),
        (CDR, example_cdr() | {"auth_method": "COMMAND"}, "auth_method"),
        (Tariff, example_tariff() | {"elements": []}, "elements"),
        (Location, without(example_location(), "type"), "type"),
        (Location, without(example_location(), "postal_code"), "postal_code"),
        (Location, example_location() | {"type": "ON_DRIVEWAY"}, "type"),
        (Location, example_location() | {"address": "a" * 46}, "address"),
        (GeoLocation, {"latitude": "51.04759", "longitude": "3.729944"}, "latitude"),
        (GeoLocation, {"latitude": "51.047599", "longitude": "3.7299441"}, "longitude"),
        (Hours, {"twentyfourseven": True, "regular_hours": []}, ""),
        (Hours, {"exceptional_openings": []}, ""),
    ],
)
def test_bad_2_1_1_input_is_refused(model: type[BaseModel], payload: Payload, field: str) -> None:
    refused(model, payload, field)


def test_2_1_1_connectors_and_capabilities_are_the_2_1_1_enums() -> None:
    connector = example_location()["evses"][0]["connectors"][0]
    refused(Connector, connector | {"standard": "GBT_DC"}, "standard")
    refused(Connector, connector | {"power_type": "AC_2_PHASE"}, "power_type")
    refused(Connector, without(connector, "voltage") | {"max_voltage": 220}, "voltage")
    evse = example_location()["evses"][0]
    refused(EVSE, evse | {"capabilities": ["CHIP_CARD_SUPPORT"]}, "capabilities")
    refused(EVSE, evse | {"connectors": []}, "connectors")
    refused(Location, example_location() | {"facilities": ["BIKE_SHARING"]}, "facilities")
