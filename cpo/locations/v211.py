"""OCPI 2.1.1 Location, EVSE and Connector objects (mod_locations), the 2.1.1 types the other
modules' 2.1.1 files share, and the converters from the stored 2.2.1 Location to the 2.1.1 wire.

What 2.1.1 differs in: no country_code, party_id, publish, publish_allowed_to or state; the
parking type is a required `type` (LocationType, with OTHER and UNKNOWN); postal_code is required
and time_zone optional; Hours holds twentyfourseven *or* regular_hours; EnvironmentalImpact names
its category `source`; coordinates have exactly six decimals; a Connector has `voltage`,
`amperage` and one `tariff_id`; the Capability, ConnectorType, PowerType and Facility enums are
shorter; ids are string(39) (Location, EVSE) and every string is printable ASCII; a DateTime is
sent without fractions of a second, which some 2.1.1 peers refuse.

The converters never emit a value 2.1.1 lacks. Where the stored value has no 2.1.1 form it is
left out (capabilities, facilities, connectors, and EVSEs left without connectors), mapped to the
nearest 2.1.1 value (parking type), or fitted (text made ASCII and cut to the 2.1.1 length,
coordinates rounded to six decimals)."""

from __future__ import annotations

import enum
import re
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    model_validator,
)

from cpo.locations.v221 import (
    ConnectorFormat,
    EnergySourceCategory,
    EnvironmentalImpactCategory,
    ParkingRestriction,
    Status,
)
from cpo.ocpi.models import URL, HourMinute, Image, Wire, invalid
from cpo.ocpi.models_v211 import (
    BusinessDetails,
    DateTime,
    DisplayText,
    NotIn211,
    ascii_text,
    business_details_out,
    display_texts_out,
    string,
)

__all__ = [
    "AdditionalGeoLocation",
    "Capability",
    "Connector",
    "ConnectorType",
    "EVSE",
    "EnergyMix",
    "EnergySource",
    "EnvironmentalImpact",
    "ExceptionalPeriod",
    "Facility",
    "GeoLocation",
    "Hours",
    "Location",
    "LocationType",
    "PowerType",
    "RegularHours",
    "StatusSchedule",
    "connector_out",
    "energy_mix_out",
    "evse_out",
    "geo_location_out",
    "location_out",
    "narrowed",
]


# Enums that differ from 2.2.1 (Status, ConnectorFormat, ParkingRestriction, ImageCategory and
# the energy enums are the same and taken from there)


class LocationType(enum.StrEnum):
    ON_STREET = "ON_STREET"
    PARKING_GARAGE = "PARKING_GARAGE"
    UNDERGROUND_GARAGE = "UNDERGROUND_GARAGE"
    PARKING_LOT = "PARKING_LOT"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"


class Capability(enum.StrEnum):
    CHARGING_PROFILE_CAPABLE = "CHARGING_PROFILE_CAPABLE"
    CREDIT_CARD_PAYABLE = "CREDIT_CARD_PAYABLE"
    REMOTE_START_STOP_CAPABLE = "REMOTE_START_STOP_CAPABLE"
    RESERVABLE = "RESERVABLE"
    RFID_READER = "RFID_READER"
    UNLOCK_CAPABLE = "UNLOCK_CAPABLE"


class ConnectorType(enum.StrEnum):
    CHADEMO = "CHADEMO"
    DOMESTIC_A = "DOMESTIC_A"
    DOMESTIC_B = "DOMESTIC_B"
    DOMESTIC_C = "DOMESTIC_C"
    DOMESTIC_D = "DOMESTIC_D"
    DOMESTIC_E = "DOMESTIC_E"
    DOMESTIC_F = "DOMESTIC_F"
    DOMESTIC_G = "DOMESTIC_G"
    DOMESTIC_H = "DOMESTIC_H"
    DOMESTIC_I = "DOMESTIC_I"
    DOMESTIC_J = "DOMESTIC_J"
    DOMESTIC_K = "DOMESTIC_K"
    DOMESTIC_L = "DOMESTIC_L"
    IEC_60309_2_single_16 = "IEC_60309_2_single_16"
    IEC_60309_2_three_16 = "IEC_60309_2_three_16"
    IEC_60309_2_three_32 = "IEC_60309_2_three_32"
    IEC_60309_2_three_64 = "IEC_60309_2_three_64"
    IEC_62196_T1 = "IEC_62196_T1"
    IEC_62196_T1_COMBO = "IEC_62196_T1_COMBO"
    IEC_62196_T2 = "IEC_62196_T2"
    IEC_62196_T2_COMBO = "IEC_62196_T2_COMBO"
    IEC_62196_T3A = "IEC_62196_T3A"
    IEC_62196_T3C = "IEC_62196_T3C"
    TESLA_R = "TESLA_R"
    TESLA_S = "TESLA_S"


class PowerType(enum.StrEnum):
    AC_1_PHASE = "AC_1_PHASE"
    AC_3_PHASE = "AC_3_PHASE"
    DC = "DC"


class Facility(enum.StrEnum):
    HOTEL = "HOTEL"
    RESTAURANT = "RESTAURANT"
    CAFE = "CAFE"
    MALL = "MALL"
    SUPERMARKET = "SUPERMARKET"
    SPORT = "SPORT"
    RECREATION_AREA = "RECREATION_AREA"
    NATURE = "NATURE"
    MUSEUM = "MUSEUM"
    BUS_STOP = "BUS_STOP"
    TAXI_STAND = "TAXI_STAND"
    TRAIN_STATION = "TRAIN_STATION"
    AIRPORT = "AIRPORT"
    CARPOOL_PARKING = "CARPOOL_PARKING"
    FUEL_STATION = "FUEL_STATION"
    WIFI = "WIFI"


# Supporting classes

_LATITUDE = r"^-?[0-9]{1,2}\.[0-9]{6}$"
_LONGITUDE = r"^-?[0-9]{1,3}\.[0-9]{6}$"


def _country(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise invalid(f"{value!r} is not an ISO 3166-1 alpha-3 country code (like 'NLD')")
    return value


class GeoLocation(Wire):
    latitude: Annotated[str, StringConstraints(max_length=10, pattern=_LATITUDE)]
    longitude: Annotated[str, StringConstraints(max_length=11, pattern=_LONGITUDE)]


class AdditionalGeoLocation(GeoLocation):
    name: DisplayText | None = None


class RegularHours(Wire):
    weekday: Annotated[int, Field(ge=1, le=7)]
    period_begin: HourMinute
    period_end: HourMinute


class ExceptionalPeriod(Wire):
    period_begin: DateTime
    period_end: DateTime


class Hours(Wire):
    """A choice: regular_hours or twentyfourseven, exactly one of them."""

    regular_hours: list[RegularHours] | None = None
    twentyfourseven: bool | None = None
    exceptional_openings: list[ExceptionalPeriod] | None = None
    exceptional_closings: list[ExceptionalPeriod] | None = None

    @model_validator(mode="after")
    def _one_of_two(self) -> Self:
        if (self.regular_hours is None) == (self.twentyfourseven is None):
            raise invalid("give either regular_hours or twentyfourseven, not both or neither")
        return self


class EnergySource(Wire):
    source: EnergySourceCategory
    percentage: Annotated[float, Field(ge=0, le=100)]


class EnvironmentalImpact(Wire):
    source: EnvironmentalImpactCategory  # `category` in 2.2.1
    amount: Annotated[float, Field(ge=0)]


class EnergyMix(Wire):
    is_green_energy: bool
    energy_sources: list[EnergySource] | None = None
    environ_impact: list[EnvironmentalImpact] | None = None
    supplier_name: Annotated[str, string(64)] | None = None
    energy_product_name: Annotated[str, string(64)] | None = None


class StatusSchedule(Wire):
    period_begin: DateTime
    period_end: DateTime | None = None
    status: Status


# Connector, EVSE and Location


class Connector(Wire):
    id: Annotated[str, string(36, 1)]
    standard: ConnectorType
    format: ConnectorFormat
    power_type: PowerType
    voltage: Annotated[int, Field(ge=0)]
    amperage: Annotated[int, Field(ge=0)]
    tariff_id: Annotated[str, string(36, 1)] | None = None
    terms_and_conditions: URL | None = None
    last_updated: DateTime


class EVSE(Wire):
    uid: Annotated[str, string(39, 1)]
    evse_id: Annotated[str, string(48)] | None = None
    status: Status
    status_schedule: list[StatusSchedule] | None = None
    capabilities: list[Capability] | None = None
    connectors: Annotated[list[Connector], Field(min_length=1)]
    floor_level: Annotated[str, string(4)] | None = None
    coordinates: GeoLocation | None = None
    physical_reference: Annotated[str, string(16)] | None = None
    directions: list[DisplayText] | None = None
    parking_restrictions: list[ParkingRestriction] | None = None
    images: list[Image] | None = None
    last_updated: DateTime


class Location(Wire):
    id: Annotated[str, string(39, 1)]
    type: LocationType
    name: Annotated[str, string(255)] | None = None
    address: Annotated[str, string(45)]
    city: Annotated[str, string(45)]
    postal_code: Annotated[str, string(10)]
    country: Annotated[str, AfterValidator(_country)]
    coordinates: GeoLocation
    related_locations: list[AdditionalGeoLocation] | None = None
    evses: list[EVSE] | None = None
    directions: list[DisplayText] | None = None
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: list[Facility] | None = None
    time_zone: Annotated[str, string(255)] | None = None
    opening_times: Hours | None = None
    charging_when_closed: bool | None = None
    images: list[Image] | None = None
    energy_mix: EnergyMix | None = None
    last_updated: DateTime


# From the stored 2.2.1 form to the 2.1.1 wire

_PARKING_TYPES = {t.value for t in LocationType}
_CAPABILITIES = {c.value for c in Capability}
_CONNECTOR_TYPES = {t.value for t in ConnectorType}
_POWER_TYPES = {t.value for t in PowerType}
_FACILITIES = {f.value for f in Facility}


def _six_decimals(value: str) -> str:
    return str(Decimal(value).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN))


def geo_location_out(point: dict[str, Any]) -> dict[str, Any]:
    """A 2.2.1 (Additional)GeoLocation with the six decimals 2.1.1 requires."""
    out = point | {
        "latitude": _six_decimals(point["latitude"]),
        "longitude": _six_decimals(point["longitude"]),
    }
    if "name" in point:
        name = point["name"]
        out["name"] = {"language": name["language"], "text": ascii_text(name["text"], 512)}
    return out


def _hours_out(hours: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in hours.items() if k != "twentyfourseven"}
    if hours.get("twentyfourseven") or not hours.get("regular_hours"):
        out = {k: v for k, v in out.items() if k != "regular_hours"} | {"twentyfourseven": True}
    return out


def energy_mix_out(mix: dict[str, Any]) -> dict[str, Any]:
    """A 2.2.1 EnergyMix as 2.1.1 has it: EnvironmentalImpact `category` named `source`."""
    out = dict(mix)
    if "environ_impact" in mix:
        out["environ_impact"] = [
            {"source": i["category"], "amount": i["amount"]} for i in mix["environ_impact"]
        ]
    for key in ("supplier_name", "energy_product_name"):
        if key in mix:
            out[key] = ascii_text(mix[key], 64)
    return out


def _connector(stored: dict[str, Any]) -> dict[str, Any] | None:
    if stored["standard"] not in _CONNECTOR_TYPES or stored["power_type"] not in _POWER_TYPES:
        return None
    out = {
        "id": stored["id"],
        "standard": stored["standard"],
        "format": stored["format"],
        "power_type": stored["power_type"],
        "voltage": stored["max_voltage"],
        "amperage": stored["max_amperage"],
        "terms_and_conditions": stored.get("terms_and_conditions"),
        "last_updated": stored["last_updated"],
    }
    if stored.get("tariff_ids"):
        out["tariff_id"] = stored["tariff_ids"][0]
    return out


def _evse(stored: dict[str, Any]) -> dict[str, Any] | None:
    connectors = [c for c in map(_connector, stored["connectors"]) if c is not None]
    if not connectors:
        return None
    capabilities = [c for c in stored.get("capabilities") or [] if c in _CAPABILITIES]
    out = {
        "uid": stored["uid"],
        "evse_id": stored.get("evse_id"),
        "status": stored["status"],
        "status_schedule": stored.get("status_schedule"),
        "capabilities": capabilities or None,
        "connectors": connectors,
        "floor_level": _fit(stored.get("floor_level"), 4),
        "physical_reference": _fit(stored.get("physical_reference"), 16),
        "directions": display_texts_out(stored.get("directions")),
        "parking_restrictions": stored.get("parking_restrictions"),
        "images": stored.get("images"),
        "last_updated": stored["last_updated"],
    }
    if "coordinates" in stored:
        out["coordinates"] = geo_location_out(stored["coordinates"])
    return out


def _fit(value: str | None, n: int) -> str | None:
    return None if value is None else ascii_text(value, n)


def _location_type(parking_type: str | None) -> str:
    """Not given: UNKNOWN; ON_DRIVEWAY and ALONG_MOTORWAY, which 2.1.1 lacks: OTHER."""
    if parking_type is None:
        return LocationType.UNKNOWN
    return parking_type if parking_type in _PARKING_TYPES else LocationType.OTHER


def connector_out(stored_connector: dict[str, Any]) -> dict[str, Any]:
    """A stored 2.2.1 Connector as 2.1.1 sends it; NotIn211 for a standard or power type 2.1.1
    lacks (GBT, NEMA, CHAOJI, pantographs, DOMESTIC_M-O; AC_2_PHASE, AC_2_PHASE_SPLIT)."""
    out = _connector(stored_connector)
    if out is None:
        raise NotIn211(
            f"connector {stored_connector['id']!r}: {stored_connector['standard']} "
            f"{stored_connector['power_type']} has no OCPI 2.1.1 form"
        )
    return Connector.model_validate(out).wire()


def evse_out(stored_evse: dict[str, Any]) -> dict[str, Any]:
    """A stored 2.2.1 EVSE as 2.1.1 sends it, without the connectors 2.1.1 cannot express;
    NotIn211 when none is left."""
    out = _evse(stored_evse)
    if out is None:
        raise NotIn211(f"EVSE {stored_evse['uid']!r} has no connector OCPI 2.1.1 can express")
    return EVSE.model_validate(out).wire()


def location_out(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored 2.2.1 Location as 2.1.1 sends it. It does not look at `publish`: whether an
    unpublished Location goes out at all is the caller's choice."""
    evses = [e for e in map(_evse, stored.get("evses") or []) if e is not None]
    facilities = [f for f in stored.get("facilities") or [] if f in _FACILITIES]
    out = {
        "id": stored["id"],
        "type": _location_type(stored.get("parking_type")),
        "name": _fit(stored.get("name"), 255),
        "address": ascii_text(stored["address"], 45),
        "city": ascii_text(stored["city"], 45),
        # Required in 2.1.1; a place without one (2.2.1 allows that) gets an empty string.
        "postal_code": ascii_text(stored.get("postal_code", ""), 10),
        "country": stored["country"],
        "coordinates": geo_location_out(stored["coordinates"]),
        "related_locations": [geo_location_out(p) for p in stored.get("related_locations", [])]
        or None,
        "evses": evses or None,
        "directions": display_texts_out(stored.get("directions")),
        "operator": business_details_out(stored.get("operator")),
        "suboperator": business_details_out(stored.get("suboperator")),
        "owner": business_details_out(stored.get("owner")),
        "facilities": facilities or None,
        "time_zone": stored.get("time_zone"),
        "charging_when_closed": stored.get("charging_when_closed"),
        "images": stored.get("images"),
        "last_updated": stored["last_updated"],
    }
    if "opening_times" in stored:
        out["opening_times"] = _hours_out(stored["opening_times"])
    if "energy_mix" in stored:
        out["energy_mix"] = energy_mix_out(stored["energy_mix"])
    return Location.model_validate(out).wire()


def narrowed(stored: dict[str, Any], evse_uid: str, connector_id: str) -> dict[str, Any] | None:
    """The stored 2.2.1 Location holding only that EVSE with only that connector (as 2.1.1
    Sessions and CDRs embed it), or None when the Location no longer has them."""
    for evse in stored.get("evses") or []:
        if evse["uid"].upper() != evse_uid.upper():
            continue
        for connector in evse["connectors"]:
            if connector["id"].upper() == connector_id.upper():
                return stored | {"evses": [evse | {"connectors": [connector]}]}
    return None
