"""OCPI 2.2.1 objects: the spec's Location, Tariff, Session and CDR examples pass and round-trip,
bad operator data is refused."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from cpo.cdrs.v221 import CDR
from cpo.locations.v221 import EVSE, Location, LocationIn, Status
from cpo.sessions.v221 import Session, SessionStatus
from cpo.tariffs.v221 import Tariff, TariffIn
from tests.helpers.ocpi import spec_location

Payload = dict[str, Any]

WIRE_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def operator_location() -> Payload:
    """The same Location as an operator imports it: no platform fields, EVSEs bound to chargers."""
    location = spec_location()
    for key in ("country_code", "party_id", "last_updated"):
        del location[key]
    for number, evse in enumerate(location["evses"], start=1):
        del evse["status"]
        del evse["last_updated"]
        evse["station_id"] = "CP-GENT-1"
        evse["ocpp_evse_id"] = number
        for connector in evse["connectors"]:
            del connector["last_updated"]
    return location


def spec_tariff() -> Payload:
    """The 2.2.1 spec's complex Tariff example (shortened to its distinct shapes)."""
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
                "price_components": [{"type": "TIME", "price": 2.0, "vat": 20.0, "step_size": 600}],
                "restrictions": {
                    "min_power": 32.0,
                    "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"],
                },
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
                },
            },
            {"price_components": [{"type": "ENERGY", "price": 0.25, "step_size": 1}]},
        ],
        "start_date_time": "2015-01-01T00:00:00Z",
        "end_date_time": "2016-01-01T00:00:00Z",
        "last_updated": "2015-06-29T20:39:09Z",
    }


def operator_tariff() -> Payload:
    tariff = spec_tariff()
    for key in ("country_code", "party_id", "last_updated"):
        del tariff[key]
    return tariff


def wire_timestamps(value: Any) -> Any:
    """The spec's examples with timestamps in the form we emit (milliseconds, `Z`)."""
    if isinstance(value, dict):
        return {k: wire_timestamps(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire_timestamps(v) for v in value]
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", value):
        return value[:-1] + ".000Z"
    return value


def all_datetimes(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in all_datetimes(v)]
    if isinstance(value, list):
        return [t for v in value for t in all_datetimes(v)]
    return [value] if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}T", value) else []


# The spec's shapes pass and round-trip


def test_spec_location_validates_and_round_trips_through_wire() -> None:
    location = Location.model_validate(spec_location())
    wire = location.wire()
    assert wire == wire_timestamps(spec_location())
    assert Location.model_validate(wire).wire() == wire


def test_wire_datetimes_are_utc_with_milliseconds_and_z() -> None:
    wire = Location.model_validate(spec_location()).wire()
    stamps = all_datetimes(wire)
    assert len(stamps) == 8  # 3 connectors, 2 EVSEs, the Location, 1 exceptional period
    for stamp in stamps:
        assert WIRE_TIMESTAMP.match(stamp) and len(stamp) <= 25, stamp


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("2016-12-29T17:45:09.2Z", "2016-12-29T17:45:09.200Z"),
        ("2018-01-01T01:08:01.123Z", "2018-01-01T01:08:01.123Z"),
        ("2015-06-29T20:39:09", "2015-06-29T20:39:09.000Z"),
    ],
)
def test_datetime_forms_the_spec_allows_are_read_as_utc(given: str, sent: str) -> None:
    payload = spec_location()
    payload["last_updated"] = given
    assert Location.model_validate(payload).wire()["last_updated"] == sent


def test_wire_location_ignores_fields_it_does_not_know() -> None:
    payload = spec_location()
    payload["future_field"] = 1
    assert "future_field" not in Location.model_validate(payload).wire()


def test_spec_tariff_validates_and_round_trips_through_wire() -> None:
    tariff = Tariff.model_validate(spec_tariff())
    wire = tariff.wire()
    assert wire == wire_timestamps(spec_tariff())
    assert Tariff.model_validate(wire).wire() == wire


def test_spec_free_of_charge_tariff_shape_with_step_size_one() -> None:
    free = {
        "country_code": "NL",
        "party_id": "TNM",
        "id": "FREE",
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "FLAT", "price": 0, "step_size": 1}]}],
        "last_updated": "2015-06-29T20:39:09Z",
    }
    assert Tariff.model_validate(free).wire()["elements"][0]["price_components"][0]["price"] == 0


# Operator input: what is accepted and filled in


def test_operator_location_is_accepted_with_defaults() -> None:
    location = LocationIn.model_validate(operator_location())
    assert location.publish is True
    assert location.country_code is None and location.last_updated is None
    assert location.evses is not None
    assert [(e.station_id, e.ocpp_evse_id, e.status) for e in location.evses] == [
        ("CP-GENT-1", 1, None),
        ("CP-GENT-1", 2, None),
    ]


def test_operator_evse_binding_defaults_to_charger_evse_one() -> None:
    payload = operator_location()
    payload["evses"] = payload["evses"][:1]
    del payload["evses"][0]["ocpp_evse_id"]
    location = LocationIn.model_validate(payload)
    assert location.evses is not None and location.evses[0].ocpp_evse_id == 1


@pytest.mark.parametrize("status", ["PLANNED", "REMOVED"])
def test_operator_may_announce_or_retire_an_evse(status: str) -> None:
    payload = operator_location()
    payload["evses"][0]["status"] = status
    location = LocationIn.model_validate(payload)
    assert location.evses is not None and location.evses[0].status == Status(status)


@pytest.mark.parametrize("status", ["AVAILABLE", "CHARGING", "RESERVED", "UNKNOWN"])
def test_a_live_evse_status_as_an_emsp_received_it_is_read(status: str) -> None:
    # cpo.locations.store ignores it (the charger owns it) and says so; the file is not refused for it.
    payload = operator_location()
    payload["evses"][0]["status"] = status
    location = LocationIn.model_validate(payload)
    assert location.evses is not None and location.evses[0].status == Status(status)


@pytest.mark.parametrize(
    "evse_id", ["NL*CPO*E12345", "NLCPOE12345", "nl*cpo*e12345", "DE*A1B*E1*2"]
)
def test_emi3_evse_ids_are_accepted_in_every_form(evse_id: str) -> None:
    payload = operator_location()
    payload["evses"][0]["evse_id"] = evse_id
    LocationIn.model_validate(payload)


def test_address_may_be_255_characters_per_the_bugfix() -> None:
    payload = operator_location()
    payload["address"] = "a" * 255
    payload["state"] = "s" * 45
    LocationIn.model_validate(payload)


def test_operator_tariff_is_accepted() -> None:
    tariff = TariffIn.model_validate(operator_tariff())
    assert tariff.country_code is None and tariff.last_updated is None


# Bad operator data is refused with a message that names the field


Change = Callable[[Payload], None]


def set_at(path: str, value: Any) -> Change:
    def change(payload: Payload) -> None:
        *parents, last = path.split(".")
        target: Any = payload
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return change


def duplicate_evse_uid(payload: Payload) -> None:
    payload["evses"][1]["uid"] = payload["evses"][0]["uid"].lower()


def same_charger_evse_twice(payload: Payload) -> None:
    payload["evses"][1]["ocpp_evse_id"] = payload["evses"][0]["ocpp_evse_id"]


def duplicate_connector_id(payload: Payload) -> None:
    payload["evses"][0]["connectors"][1]["id"] = "1"


def typo(payload: Payload) -> None:
    payload["adress"] = payload.pop("address")


def always_open_with_hours(payload: Payload) -> None:
    payload["opening_times"]["twentyfourseven"] = True


def refused(model: type[BaseModel], payload: Payload, field: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(payload)
    problems = [
        (".".join(str(part) for part in error["loc"]), error["msg"])
        for error in caught.value.errors()
    ]
    assert any((field in loc or field in msg) and words in msg for loc, msg in problems), problems


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (set_at("id", "x" * 37), "id", "at most 36 characters"),
        (set_at("address", "a" * 256), "address", "at most 255 characters"),
        (set_at("city", "c" * 46), "city", "at most 45 characters"),
        (set_at("country", "NL"), "country", "not an ISO 3166-1 alpha-3"),
        (set_at("country", "nld"), "country", "not an ISO 3166-1 alpha-3"),
        (set_at("coordinates.latitude", "91.00000"), "coordinates.latitude", "outside -90 to 90"),
        (set_at("coordinates.longitude", "-180.50000"), "coordinates.longitude", "outside"),
        (set_at("coordinates.latitude", "51.04"), "coordinates.latitude", "not a latitude"),
        (set_at("coordinates.longitude", "3,729944"), "coordinates.longitude", "not a longitude"),
        (set_at("time_zone", "Europe/Nowhere"), "time_zone", "not an IANA time zone"),
        (set_at("time_zone", "../etc/passwd"), "time_zone", "not an IANA time zone"),
        (set_at("evses.0.capabilities.0", "FAST"), "evses.0.capabilities.0", "Input should be"),
        (
            set_at("evses.0.connectors.0.standard", "TYPE2"),
            "evses.0.connectors.0.standard",
            "Input should be",
        ),
        (set_at("evses.0.evse_id", "BE-BEC-041503001"), "evses.0.evse_id", "not an eMI3 EVSE id"),
        (set_at("evses.0.evse_id", "BE*BEC*041503001"), "evses.0.evse_id", "not an eMI3 EVSE id"),
        (duplicate_evse_uid, "evses", "EVSE uid '3256' appears more than once"),
        (same_charger_evse_twice, "evses", "are both bound to station_id 'CP-GENT-1'"),
        (duplicate_connector_id, "connectors", "connector id '1' appears more than once"),
        (set_at("evses.0.status", "CHARGED"), "evses.0.status", "Input should be"),
        (set_at("evses.0.station_id", ""), "evses.0.station_id", "at least 1 character"),
        (set_at("evses.0.ocpp_evse_id", 0), "evses.0.ocpp_evse_id", "greater than or equal to 1"),
        (set_at("evses.0.connectors", []), "evses.0.connectors", "at least 1 item"),
        (set_at("opening_times.regular_hours.0.period_end", "24:00"), "period_end", "HH:MM"),
        (set_at("opening_times.regular_hours.0.weekday", 8), "weekday", "less than or equal to 7"),
        (always_open_with_hours, "regular_hours", "only be given when twentyfourseven is false"),
        (typo, "adress", "Extra inputs are not permitted"),
        (set_at("evses.0.stationid", "x"), "evses.0.stationid", "Extra inputs are not permitted"),
    ],
)
def test_bad_operator_location_is_refused(change: Change, field: str, words: str) -> None:
    payload = operator_location()
    change(payload)
    refused(LocationIn, payload, field, words)


def test_wire_evse_refuses_duplicate_connector_ids() -> None:
    evse = copy.deepcopy(spec_location()["evses"][0])
    duplicate_connector_id({"evses": [evse]})
    with pytest.raises(ValidationError, match="connector id '1' appears more than once"):
        EVSE.model_validate(evse)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (set_at("currency", "euro"), "currency", "not an ISO 4217 currency code"),
        (set_at("currency", "eur"), "currency", "not an ISO 4217 currency code"),
        (set_at("id", "t" * 37), "id", "at most 36 characters"),
        (
            set_at("elements.0.price_components.0.step_size", 0),
            "elements.0.price_components.0.step_size",
            "greater than or equal to 1",
        ),
        (
            set_at("elements.0.price_components.0.vat", 150),
            "elements.0.price_components.0.vat",
            "less than or equal to 100",
        ),
        (
            set_at("elements.0.price_components.0.price", -1),
            "elements.0.price_components.0.price",
            "greater than or equal to 0",
        ),
        (set_at("min_price", {"excl_vat": 20.0}), "min_price", "more than max_price"),
        (
            set_at("elements.3.restrictions.start_time", "25:00"),
            "elements.3.restrictions.start_time",
            "not a time of day HH:MM",
        ),
        (
            set_at("elements.3.restrictions.start_date", "2015-02-30"),
            "elements.3.restrictions.start_date",
            "not a date YYYY-MM-DD",
        ),
        (set_at("elements.3.restrictions.min_duration", 9000), "min_duration", "more than"),
        (set_at("elements.1.restrictions.min_power", 40.0), "min_power", "more than max_power"),
        (set_at("elements.4.price_components.0.type", "KWH"), "type", "Input should be"),
        (set_at("elements", []), "elements", "at least 1 item"),
        (
            set_at("end_date_time", "2014-01-01T00:00:00Z"),
            "start_date_time",
            "must come before end_date_time",
        ),
        (set_at("tariff_alt_text.0.language", "eng"), "tariff_alt_text.0.language", "pattern"),
        (set_at("tarif_alt_url", "https://x.example"), "tarif_alt_url", "Extra inputs"),
    ],
)
def test_bad_operator_tariff_is_refused(change: Change, field: str, words: str) -> None:
    payload = operator_tariff()
    change(payload)
    refused(TariffIn, payload, field, words)


def test_reservation_restriction_allows_only_flat_and_time() -> None:
    payload = operator_tariff()
    payload["elements"][4]["restrictions"] = {"reservation": "RESERVATION"}
    refused(TariffIn, payload, "price_components", "ENERGY component cannot have a reservation")


# Sessions and CDRs


def spec_session() -> Payload:
    """The 2.2.1 spec's finished Session example (shortened to its distinct shapes)."""
    return {
        "country_code": "BE",
        "party_id": "BEC",
        "id": "101",
        "start_date_time": "2015-06-29T22:39:09Z",
        "end_date_time": "2015-06-29T23:50:16Z",
        "kwh": 41.12,
        "cdr_token": {
            "country_code": "NL",
            "party_id": "TST",
            "uid": "123abc",
            "type": "RFID",
            "contract_id": "NL-TST-C12345678-S",
        },
        "auth_method": "WHITELIST",
        "location_id": "LOC1",
        "evse_uid": "3256",
        "connector_id": "1",
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
                "tariff_id": "12",
            },
        ],
        "total_cost": {"excl_vat": 8.5, "incl_vat": 9.35},
        "status": "COMPLETED",
        "last_updated": "2015-06-29T23:50:17Z",
    }


def spec_cdr() -> Payload:
    """The 2.2.1 spec's CDR example, with its Tariff."""
    return {
        "country_code": "BE",
        "party_id": "BEC",
        "id": "12345",
        "start_date_time": "2015-06-29T21:39:09Z",
        "end_date_time": "2015-06-29T23:37:32Z",
        "cdr_token": {
            "country_code": "DE",
            "party_id": "TNM",
            "uid": "012345678",
            "type": "RFID",
            "contract_id": "DE8ACC12E46L89",
        },
        "auth_method": "WHITELIST",
        "cdr_location": {
            "id": "LOC1",
            "name": "Gent Zuid",
            "address": "F.Rooseveltlaan 3A",
            "city": "Gent",
            "postal_code": "9000",
            "country": "BEL",
            "coordinates": {"latitude": "3.729944", "longitude": "51.047599"},
            "evse_uid": "3256",
            "evse_id": "BE*BEC*E041503003",
            "connector_id": "1",
            "connector_standard": "IEC_62196_T2",
            "connector_format": "SOCKET",
            "connector_power_type": "AC_1_PHASE",
        },
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
                "dimensions": [{"type": "TIME", "volume": 1.973}],
                "tariff_id": "12",
            }
        ],
        "total_cost": {"excl_vat": 4.0, "incl_vat": 4.4},
        "total_energy": 15.342,
        "total_time": 1.973,
        "total_time_cost": {"excl_vat": 4.0, "incl_vat": 4.4},
        "last_updated": "2015-06-29T22:01:13Z",
    }


@pytest.mark.parametrize(("model", "example"), [(Session, spec_session), (CDR, spec_cdr)])
def test_spec_session_and_cdr_validate_and_round_trip_through_wire(
    model: type[BaseModel], example: Callable[[], Payload]
) -> None:
    wire = model.model_validate(example()).model_dump(mode="json", exclude_none=True)
    assert wire == wire_timestamps(example())
    assert model.model_validate(wire).model_dump(mode="json", exclude_none=True) == wire


def test_session_states_are_the_spec_enum() -> None:
    payload = spec_session()
    assert Session.model_validate(payload).status is SessionStatus.COMPLETED
    payload["status"] = "STOPPED"
    refused(Session, payload, "status", "ACTIVE")


def test_a_credit_cdr_carries_negative_amounts_and_names_what_it_credits() -> None:
    credit = spec_cdr() | {"id": "12345-C", "credit": True, "credit_reference_id": "12345"}
    credit["total_cost"] = {"excl_vat": -4.0, "incl_vat": -4.4}
    assert CDR.model_validate(credit).total_cost.excl_vat == -4.0
    del credit["credit_reference_id"]
    refused(CDR, credit, "", "names the CDR it credits")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c.update(charging_periods=[]), "charging_periods"),
        (lambda c: c["cdr_location"].update(country="BE"), "cdr_location.country"),
        (lambda c: c.update(id="X" * 40), "id"),
        (lambda c: c["cdr_token"].update(type="PASSPORT"), "cdr_token.type"),
    ],
)
def test_a_cdr_the_spec_does_not_allow_is_refused(change: Change, field: str) -> None:
    payload = spec_cdr()
    change(payload)
    with pytest.raises(ValidationError) as raised:
        CDR.model_validate(payload)
    assert field in {".".join(map(str, e["loc"])) for e in raised.value.errors()}
