"""OCPI 2.2.1 Location, EVSE and Connector objects (mod_locations), and the operator's input forms."""

from __future__ import annotations

import enum
import re
import zoneinfo
from typing import Annotated, Self

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, model_validator

from cpo.ocpi.models import (
    URL,
    BusinessDetails,
    CountryCode,
    DateTime,
    DisplayText,
    HourMinute,
    Image,
    PartyId,
    Wire,
    cistring,
    invalid,
    string,
)
from cpo.tokens.v221 import TokenType

__all__ = [
    "AdditionalGeoLocation",
    "Capability",
    "Connector",
    "ConnectorFormat",
    "ConnectorIn",
    "ConnectorType",
    "DisplayText",
    "EVSE",
    "EnergyMix",
    "EnergySource",
    "EnergySourceCategory",
    "EnvironmentalImpact",
    "EnvironmentalImpactCategory",
    "EvseIn",
    "ExceptionalPeriod",
    "Facility",
    "GeoLocation",
    "Hours",
    "Location",
    "LocationIn",
    "ParkingRestriction",
    "ParkingType",
    "PowerType",
    "PublishTokenType",
    "RegularHours",
    "Status",
    "StatusSchedule",
]


class Status(enum.StrEnum):
    AVAILABLE = "AVAILABLE"
    BLOCKED = "BLOCKED"
    CHARGING = "CHARGING"
    INOPERATIVE = "INOPERATIVE"
    OUTOFORDER = "OUTOFORDER"
    PLANNED = "PLANNED"
    REMOVED = "REMOVED"
    RESERVED = "RESERVED"
    UNKNOWN = "UNKNOWN"


class Capability(enum.StrEnum):
    CHARGING_PROFILE_CAPABLE = "CHARGING_PROFILE_CAPABLE"
    CHARGING_PREFERENCES_CAPABLE = "CHARGING_PREFERENCES_CAPABLE"
    CHIP_CARD_SUPPORT = "CHIP_CARD_SUPPORT"
    CONTACTLESS_CARD_SUPPORT = "CONTACTLESS_CARD_SUPPORT"
    CREDIT_CARD_PAYABLE = "CREDIT_CARD_PAYABLE"
    DEBIT_CARD_PAYABLE = "DEBIT_CARD_PAYABLE"
    PED_TERMINAL = "PED_TERMINAL"
    REMOTE_START_STOP_CAPABLE = "REMOTE_START_STOP_CAPABLE"
    RESERVABLE = "RESERVABLE"
    RFID_READER = "RFID_READER"
    START_SESSION_CONNECTOR_REQUIRED = "START_SESSION_CONNECTOR_REQUIRED"
    TOKEN_GROUP_CAPABLE = "TOKEN_GROUP_CAPABLE"
    UNLOCK_CAPABLE = "UNLOCK_CAPABLE"


class ConnectorType(enum.StrEnum):
    CHADEMO = "CHADEMO"
    CHAOJI = "CHAOJI"
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
    DOMESTIC_M = "DOMESTIC_M"
    DOMESTIC_N = "DOMESTIC_N"
    DOMESTIC_O = "DOMESTIC_O"
    GBT_AC = "GBT_AC"
    GBT_DC = "GBT_DC"
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
    NEMA_5_20 = "NEMA_5_20"
    NEMA_6_30 = "NEMA_6_30"
    NEMA_6_50 = "NEMA_6_50"
    NEMA_10_30 = "NEMA_10_30"
    NEMA_10_50 = "NEMA_10_50"
    NEMA_14_30 = "NEMA_14_30"
    NEMA_14_50 = "NEMA_14_50"
    PANTOGRAPH_BOTTOM_UP = "PANTOGRAPH_BOTTOM_UP"
    PANTOGRAPH_TOP_DOWN = "PANTOGRAPH_TOP_DOWN"
    TESLA_R = "TESLA_R"
    TESLA_S = "TESLA_S"


class ConnectorFormat(enum.StrEnum):
    SOCKET = "SOCKET"
    CABLE = "CABLE"


class PowerType(enum.StrEnum):
    AC_1_PHASE = "AC_1_PHASE"
    AC_2_PHASE = "AC_2_PHASE"
    AC_2_PHASE_SPLIT = "AC_2_PHASE_SPLIT"
    AC_3_PHASE = "AC_3_PHASE"
    DC = "DC"


class ParkingType(enum.StrEnum):
    ALONG_MOTORWAY = "ALONG_MOTORWAY"
    PARKING_GARAGE = "PARKING_GARAGE"
    PARKING_LOT = "PARKING_LOT"
    ON_DRIVEWAY = "ON_DRIVEWAY"
    ON_STREET = "ON_STREET"
    UNDERGROUND_GARAGE = "UNDERGROUND_GARAGE"


class ParkingRestriction(enum.StrEnum):
    EV_ONLY = "EV_ONLY"
    PLUGGED = "PLUGGED"
    DISABLED = "DISABLED"
    CUSTOMERS = "CUSTOMERS"
    MOTORCYCLES = "MOTORCYCLES"


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
    BIKE_SHARING = "BIKE_SHARING"
    BUS_STOP = "BUS_STOP"
    TAXI_STAND = "TAXI_STAND"
    TRAM_STOP = "TRAM_STOP"
    METRO_STATION = "METRO_STATION"
    TRAIN_STATION = "TRAIN_STATION"
    AIRPORT = "AIRPORT"
    PARKING_LOT = "PARKING_LOT"
    CARPOOL_PARKING = "CARPOOL_PARKING"
    FUEL_STATION = "FUEL_STATION"
    WIFI = "WIFI"


class EnergySourceCategory(enum.StrEnum):
    NUCLEAR = "NUCLEAR"
    GENERAL_FOSSIL = "GENERAL_FOSSIL"
    COAL = "COAL"
    GAS = "GAS"
    GENERAL_GREEN = "GENERAL_GREEN"
    SOLAR = "SOLAR"
    WIND = "WIND"
    WATER = "WATER"


class EnvironmentalImpactCategory(enum.StrEnum):
    NUCLEAR_WASTE = "NUCLEAR_WASTE"
    CARBON_DIOXIDE = "CARBON_DIOXIDE"


# Supporting types


_LATITUDE = re.compile(r"^-?[0-9]{1,2}\.[0-9]{5,7}$")
_LONGITUDE = re.compile(r"^-?[0-9]{1,3}\.[0-9]{5,7}$")


def _latitude(value: str) -> str:
    if not _LATITUDE.match(value):
        raise invalid(f"{value!r} is not a latitude like '52.37405' (5 to 7 decimals)")
    if abs(float(value)) > 90:
        raise invalid(f"{value!r} is outside -90 to 90")
    return value


def _longitude(value: str) -> str:
    if not _LONGITUDE.match(value):
        raise invalid(f"{value!r} is not a longitude like '4.89044' (5 to 7 decimals)")
    if abs(float(value)) > 180:
        raise invalid(f"{value!r} is outside -180 to 180")
    return value


Latitude = Annotated[str, AfterValidator(_latitude)]
Longitude = Annotated[str, AfterValidator(_longitude)]


def _time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise invalid(f"{value!r} is not an IANA time zone (like 'Europe/Amsterdam')") from None
    return value


def _country(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise invalid(f"{value!r} is not an ISO 3166-1 alpha-3 country code (like 'NLD')")
    return value


# eMI3: country, optional '*', three-character operator, optional '*', 'E' and the outlet id.
_EMI3_EVSE_ID = re.compile(r"^[A-Z]{2}\*?[A-Z0-9]{3}\*?E[A-Z0-9*]{1,30}$", re.IGNORECASE)


def _evse_id(value: str) -> str:
    if not _EMI3_EVSE_ID.match(value):
        raise invalid(f"{value!r} is not an eMI3 EVSE id (like 'NL*CPO*E12345')")
    return value


class GeoLocation(Wire):
    latitude: Latitude
    longitude: Longitude


class AdditionalGeoLocation(Wire):
    latitude: Latitude
    longitude: Longitude
    name: DisplayText | None = None


class RegularHours(Wire):
    weekday: Annotated[int, Field(ge=1, le=7)]
    period_begin: HourMinute
    period_end: HourMinute


class ExceptionalPeriod(Wire):
    period_begin: DateTime
    period_end: DateTime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.period_end <= self.period_begin:
            raise invalid("period_end must come after period_begin")
        return self


class Hours(Wire):
    twentyfourseven: bool
    regular_hours: list[RegularHours] | None = None
    exceptional_openings: list[ExceptionalPeriod] | None = None
    exceptional_closings: list[ExceptionalPeriod] | None = None

    @model_validator(mode="after")
    def _regular_hours_only_when_not_always_open(self) -> Self:
        if self.twentyfourseven and self.regular_hours:
            raise invalid("regular_hours may only be given when twentyfourseven is false")
        if not self.twentyfourseven and not self.regular_hours:
            raise invalid("regular_hours needs at least one entry when twentyfourseven is false")
        return self


class EnergySource(Wire):
    source: EnergySourceCategory
    percentage: Annotated[float, Field(ge=0, le=100)]


class EnvironmentalImpact(Wire):
    category: EnvironmentalImpactCategory
    amount: Annotated[float, Field(ge=0)]


class EnergyMix(Wire):
    is_green_energy: bool
    energy_sources: list[EnergySource] | None = None
    environ_impact: list[EnvironmentalImpact] | None = None
    supplier_name: Annotated[str, string(64)] | None = None
    energy_product_name: Annotated[str, string(64)] | None = None


class PublishTokenType(Wire):
    uid: Annotated[str, cistring(36)] | None = None
    type: TokenType | None = None
    visual_number: Annotated[str, string(64)] | None = None
    issuer: Annotated[str, string(64)] | None = None
    group_id: Annotated[str, cistring(36)] | None = None

    @model_validator(mode="after")
    def _identifies_someone(self) -> Self:
        if self.uid is None and self.visual_number is None and self.group_id is None:
            raise invalid("give at least one of uid, visual_number or group_id")
        if self.uid is not None and self.type is None:
            raise invalid("uid needs a type")
        if self.visual_number is not None and self.issuer is None:
            raise invalid("visual_number needs an issuer")
        return self


class StatusSchedule(Wire):
    period_begin: DateTime
    period_end: DateTime | None = None
    status: Status


# Connector, EVSE and Location. Each has a wire form (what eMSPs receive) and an operator's
# input form (*In); both grow from one base so the fields are written once.


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        key = value.upper()  # CiString: compared without regard to case
        if key in seen:
            raise invalid(f"{what} {value!r} appears more than once")
        seen.add(key)


class _ConnectorFields(Wire):
    id: Annotated[str, cistring(36)]
    standard: ConnectorType
    format: ConnectorFormat
    power_type: PowerType
    max_voltage: Annotated[int, Field(ge=0)]
    max_amperage: Annotated[int, Field(ge=0)]
    max_electric_power: Annotated[int, Field(ge=0)] | None = None
    tariff_ids: list[Annotated[str, cistring(36)]] | None = None
    terms_and_conditions: URL | None = None


class Connector(_ConnectorFields):
    last_updated: DateTime


class ConnectorIn(_ConnectorFields):
    """A connector as the operator describes it; the platform stamps last_updated."""

    model_config = ConfigDict(extra="forbid")

    last_updated: DateTime | None = None


class _EvseFields(Wire):
    uid: Annotated[str, cistring(36)]
    evse_id: Annotated[str, cistring(48), AfterValidator(_evse_id)] | None = None
    status_schedule: list[StatusSchedule] | None = None
    capabilities: list[Capability] | None = None
    floor_level: Annotated[str, string(4)] | None = None
    coordinates: GeoLocation | None = None
    physical_reference: Annotated[str, string(16)] | None = None
    directions: list[DisplayText] | None = None
    parking_restrictions: list[ParkingRestriction] | None = None
    images: list[Image] | None = None


class EVSE(_EvseFields):
    status: Status
    connectors: Annotated[list[Connector], Field(min_length=1)]
    last_updated: DateTime

    @model_validator(mode="after")
    def _connector_ids_unique(self) -> Self:
        _unique([c.id for c in self.connectors], "connectors: connector id")
        return self


# The live charger reports every other status; an operator can only announce or retire an EVSE.
OPERATOR_STATUSES = (Status.PLANNED, Status.REMOVED)


class EvseIn(_EvseFields):
    """An EVSE as the operator describes it, bound to the charger EVSE that serves it."""

    model_config = ConfigDict(extra="forbid")

    # Any status is read (a Location as an eMSP receives it has one); only OPERATOR_STATUSES
    # are kept, the others are the charger's to report (cpo.locations.store says which were ignored).
    status: Status | None = None
    connectors: Annotated[list[ConnectorIn], Field(min_length=1)]
    last_updated: DateTime | None = None
    # Never sent to eMSPs: which OCPP charger and which of its EVSEs (2.0.1 EVSE id, or the
    # 1.6 connector id) this OCPI EVSE is.
    station_id: Annotated[str, string(48, 1)]
    ocpp_evse_id: Annotated[int, Field(ge=1)] = 1

    @model_validator(mode="after")
    def _connector_ids_unique(self) -> Self:
        _unique([c.id for c in self.connectors], "connectors: connector id")
        return self


def _publish_allowed_to_only_when_hidden(
    publish: bool, allowed: list[PublishTokenType] | None
) -> None:
    if publish and allowed:
        raise invalid("publish_allowed_to may only be given when publish is false")


class _LocationFields(Wire):
    id: Annotated[str, cistring(36)]
    publish_allowed_to: list[PublishTokenType] | None = None
    name: Annotated[str, string(255)] | None = None
    address: Annotated[str, string(255, 1)]  # [bugfix] str(255), not str(45)
    city: Annotated[str, string(45, 1)]
    postal_code: Annotated[str, string(10)] | None = None
    state: Annotated[str, string(45)] | None = None  # [bugfix] str(45), not str(20)
    country: Annotated[str, StringConstraints(max_length=3), AfterValidator(_country)]
    coordinates: GeoLocation
    related_locations: list[AdditionalGeoLocation] | None = None
    parking_type: ParkingType | None = None
    directions: list[DisplayText] | None = None
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: list[Facility] | None = None
    time_zone: Annotated[str, string(255, 1), AfterValidator(_time_zone)]
    opening_times: Hours | None = None
    charging_when_closed: bool | None = None
    images: list[Image] | None = None
    energy_mix: EnergyMix | None = None


class Location(_LocationFields):
    country_code: CountryCode
    party_id: PartyId
    publish: bool
    evses: list[EVSE] | None = None
    last_updated: DateTime

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _publish_allowed_to_only_when_hidden(self.publish, self.publish_allowed_to)
        _unique([e.uid for e in self.evses or []], "evses: EVSE uid")
        return self


class LocationIn(_LocationFields):
    """A Location as the operator imports it; the platform fills its own country_code,
    party_id and last_updated where they are left out."""

    model_config = ConfigDict(extra="forbid")

    country_code: CountryCode | None = None
    party_id: PartyId | None = None
    publish: bool = True
    evses: list[EvseIn] | None = None
    last_updated: DateTime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _publish_allowed_to_only_when_hidden(self.publish, self.publish_allowed_to)
        evses = self.evses or []
        _unique([e.uid for e in evses], "evses: EVSE uid")
        bound: dict[tuple[str, int], str] = {}
        for evse in evses:
            key = (evse.station_id, evse.ocpp_evse_id)
            if key in bound:
                raise invalid(
                    f"evses: {bound[key]!r} and {evse.uid!r} are both bound to station_id "
                    f"{evse.station_id!r} ocpp_evse_id {evse.ocpp_evse_id}"
                )
            bound[key] = evse.uid
        return self
