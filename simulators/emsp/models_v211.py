"""OCPI 2.1.1 wire objects: what differs from 2.2.1 (models.py), field for field with the spec.

2.1.1 has no country_code/party_id in Locations, Sessions, CDRs, Tariffs or Tokens, names the
token reference `auth_id`, embeds a whole Location in Sessions and CDRs, prices as plain numbers
(excl. VAT), and answers commands asynchronously with the same CommandResponse `{result}`.

Where 2.1.1 only changes some fields of a 2.2.1 class, the class here subclasses its 2.2.1
namesake and redeclares just those. Where 2.1.1 lacks fields 2.2.1 has (Endpoint.role,
PriceComponent.vat, Token.country_code, ...) or checks otherwise (Hours, TariffElement), the class
stays whole: a subclass would add and check 2.2.1 fields and model validators 2.1.1 does not have."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from simulators.emsp import models
from simulators.emsp.models import (
    URL,
    Alpha3,
    BusinessDetails,
    CiS4,
    CiS36,
    CiS39,
    CiS48,
    ConnectorFormat,
    CountryCode,
    CredentialsToken,
    Currency,
    Date,
    DateTime,
    DayOfWeek,
    DisplayText,
    EnvironmentalImpactCategory,
    ExceptionalPeriod,
    HourMinute,
    Image,
    Language,
    Number,
    OcpiModel,
    PartyId,
    RegularHours,
    StopSession,
    TariffDimensionType,
    Version,
    WhitelistType,
    _not_older,
    _text,
)

VERSION = "2.1.1"

# Unchanged from 2.2.1, served under this module's name like the classes redeclared below.
__all__ = ["StopSession", "Version"]

# 2.1.1 strings are printable ASCII (A types §string); ids are string(n), not CiString, but
# check the same as the 2.2.1 CiStrings of that length.
S4 = CiS4
S10 = Annotated[str, _text(10, ascii=True)]
S16 = Annotated[str, _text(16, ascii=True)]
S45 = Annotated[str, _text(45, ascii=True)]
S64 = Annotated[str, _text(64, ascii=True)]
S255 = Annotated[str, _text(255, ascii=True)]
# Exactly six decimals in 2.1.1 (A loc §GeoLocation); 2.2 allows five to seven.
Latitude = Annotated[str, _text(10, pattern=r"-?[0-9]{1,2}\.[0-9]{6}", what="latitude")]
Longitude = Annotated[str, _text(11, pattern=r"-?[0-9]{1,3}\.[0-9]{6}", what="longitude")]
S36 = CiS36
S39 = CiS39
S48 = CiS48

# ---------------------------------------------------------------------------------- enums

VersionNumber = Literal["2.0", "2.1", "2.1.1"]
ModuleID = Literal["cdrs", "commands", "credentials", "locations", "sessions", "tariffs", "tokens"]
LocationType = Literal[
    "ON_STREET", "PARKING_GARAGE", "UNDERGROUND_GARAGE", "PARKING_LOT", "OTHER", "UNKNOWN"
]
ConnectorType = Literal[
    "CHADEMO",
    "DOMESTIC_A",
    "DOMESTIC_B",
    "DOMESTIC_C",
    "DOMESTIC_D",
    "DOMESTIC_E",
    "DOMESTIC_F",
    "DOMESTIC_G",
    "DOMESTIC_H",
    "DOMESTIC_I",
    "DOMESTIC_J",
    "DOMESTIC_K",
    "DOMESTIC_L",
    "IEC_60309_2_single_16",
    "IEC_60309_2_three_16",
    "IEC_60309_2_three_32",
    "IEC_60309_2_three_64",
    "IEC_62196_T1",
    "IEC_62196_T1_COMBO",
    "IEC_62196_T2",
    "IEC_62196_T2_COMBO",
    "IEC_62196_T3A",
    "IEC_62196_T3C",
    "TESLA_R",
    "TESLA_S",
]
PowerType = Literal["AC_1_PHASE", "AC_3_PHASE", "DC"]
Capability = Literal[
    "CHARGING_PROFILE_CAPABLE",
    "CREDIT_CARD_PAYABLE",
    "REMOTE_START_STOP_CAPABLE",
    "RESERVABLE",
    "RFID_READER",
    "UNLOCK_CAPABLE",
]
Facility = Literal[
    "HOTEL",
    "RESTAURANT",
    "CAFE",
    "MALL",
    "SUPERMARKET",
    "SPORT",
    "RECREATION_AREA",
    "NATURE",
    "MUSEUM",
    "BUS_STOP",
    "TAXI_STAND",
    "TRAIN_STATION",
    "AIRPORT",
    "CARPOOL_PARKING",
    "FUEL_STATION",
    "WIFI",
]
TokenType = Literal["OTHER", "RFID"]
AllowedType = Literal["ALLOWED", "BLOCKED", "EXPIRED", "NO_CREDIT", "NOT_ALLOWED"]
SessionStatus = Literal["ACTIVE", "COMPLETED", "INVALID", "PENDING"]
AuthMethod = Literal["AUTH_REQUEST", "WHITELIST"]
CdrDimensionType = Literal["ENERGY", "FLAT", "MAX_CURRENT", "MIN_CURRENT", "PARKING_TIME", "TIME"]
CommandType = Literal["RESERVE_NOW", "START_SESSION", "STOP_SESSION", "UNLOCK_CONNECTOR"]
CommandResponseType = Literal["NOT_SUPPORTED", "REJECTED", "ACCEPTED", "TIMEOUT", "UNKNOWN_SESSION"]


# ---------------------------------------------------------------------------------- transport


class Endpoint(OcpiModel):
    identifier: ModuleID
    url: URL


class VersionDetails(models.VersionDetails):
    """2.1.1: versions up to 2.1.1; endpoints are 2.1.1 Endpoints (no role)."""

    version: VersionNumber
    endpoints: Annotated[list[Endpoint], Field(min_length=1)]


class Credentials(OcpiModel):
    token: CredentialsToken
    url: URL
    business_details: BusinessDetails
    party_id: PartyId
    country_code: CountryCode


# ---------------------------------------------------------------------------------- locations


class GeoLocation(models.GeoLocation):
    """2.1.1: exactly six decimals."""

    latitude: Latitude
    longitude: Longitude


class AdditionalGeoLocation(GeoLocation):
    """2.1.1: with 2.1.1 (six-decimal) coordinates."""

    name: DisplayText | None = None


class Hours(OcpiModel):
    """2.1.1: a choice of regular_hours or twentyfourseven (exactly one)."""

    regular_hours: list[RegularHours] | None = None
    twentyfourseven: bool | None = None
    exceptional_openings: list[ExceptionalPeriod] = []
    exceptional_closings: list[ExceptionalPeriod] = []

    @model_validator(mode="after")
    def _choice(self) -> Self:
        if (self.regular_hours is None) == (self.twentyfourseven is None):
            raise ValueError("Hours holds either regular_hours or twentyfourseven (a choice)")
        return self


class EnvironmentalImpact(OcpiModel):
    source: EnvironmentalImpactCategory  # renamed `category` in 2.2
    amount: Number


class EnergyMix(models.EnergyMix):
    """2.1.1: 2.1.1 EnvironmentalImpacts (`source`); ASCII supplier and product names."""

    environ_impact: list[EnvironmentalImpact] = []
    supplier_name: S64 | None = None
    energy_product_name: S64 | None = None


class Connector(OcpiModel):
    id: S36
    standard: ConnectorType
    format: ConnectorFormat
    power_type: PowerType
    voltage: int
    amperage: int
    tariff_id: S36 | None = None
    terms_and_conditions: URL | None = None
    last_updated: DateTime


class EVSE(models.EVSE):
    """2.1.1: uid string(39), 2.1.1 capabilities, Connectors and GeoLocation, ASCII floor_level
    and physical_reference. last_updated still covers the connectors (inherited check)."""

    uid: S39
    capabilities: list[Capability] = []
    connectors: Annotated[list[Connector], Field(min_length=1)]
    floor_level: S4 | None = None
    coordinates: GeoLocation | None = None
    physical_reference: S16 | None = None


class Location(OcpiModel):
    id: S39
    type: LocationType
    name: S255 | None = None
    address: S45
    city: S45
    postal_code: S10
    country: Alpha3
    coordinates: GeoLocation
    related_locations: list[AdditionalGeoLocation] = []
    evses: list[EVSE] = []
    directions: list[DisplayText] = []
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: list[Facility] = []
    time_zone: S255 | None = None
    opening_times: Hours | None = None
    charging_when_closed: bool | None = None
    images: list[Image] = []
    energy_mix: EnergyMix | None = None
    last_updated: DateTime

    @model_validator(mode="after")
    def _includes_evses(self) -> Self:
        _not_older(self.last_updated, self.evses, "an EVSE's")
        return self


# ---------------------------------------------------------------------------------- tariffs


class PriceComponent(OcpiModel):
    type: TariffDimensionType
    price: Number
    step_size: Annotated[int, Field(ge=0)]


class TariffRestrictions(OcpiModel):
    start_time: HourMinute | None = None
    end_time: HourMinute | None = None
    start_date: Date | None = None
    end_date: Date | None = None
    min_kwh: Number | None = None
    max_kwh: Number | None = None
    min_power: Number | None = None
    max_power: Number | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    day_of_week: list[DayOfWeek] = []


class TariffElement(OcpiModel):
    price_components: Annotated[list[PriceComponent], Field(min_length=1)]
    restrictions: TariffRestrictions | None = None


class Tariff(OcpiModel):
    id: S36
    currency: Currency
    tariff_alt_text: list[DisplayText] = []
    tariff_alt_url: URL | None = None
    elements: Annotated[list[TariffElement], Field(min_length=1)]
    energy_mix: EnergyMix | None = None
    last_updated: DateTime


# ---------------------------------------------------------------------------------- sessions, cdrs


class CdrDimension(models.CdrDimension):
    """2.1.1: its own, shorter list of dimension types (FLAT among them)."""

    type: CdrDimensionType


class ChargingPeriod(OcpiModel):
    start_date_time: DateTime
    dimensions: Annotated[list[CdrDimension], Field(min_length=1)]


class Session(OcpiModel):
    id: S36
    start_datetime: DateTime
    end_datetime: DateTime | None = None
    kwh: Number
    auth_id: S36
    auth_method: AuthMethod
    location: Location
    meter_id: S255 | None = None
    currency: Currency
    charging_periods: list[ChargingPeriod] = []
    total_cost: Number | None = None
    status: SessionStatus
    last_updated: DateTime


class CDR(OcpiModel):
    id: S36
    start_date_time: DateTime
    stop_date_time: DateTime
    auth_id: S36
    auth_method: AuthMethod
    location: Location
    meter_id: S255 | None = None
    currency: Currency
    tariffs: list[Tariff] = []
    charging_periods: Annotated[list[ChargingPeriod], Field(min_length=1)]
    total_cost: Number
    total_energy: Number
    total_time: Number
    total_parking_time: Number | None = None
    remark: S255 | None = None
    last_updated: DateTime


# ---------------------------------------------------------------------------------- tokens, commands


class Token(OcpiModel):
    uid: S36
    type: TokenType
    auth_id: S36
    visual_number: S64 | None = None
    issuer: S64
    valid: bool
    whitelist: WhitelistType
    language: Language | None = None
    last_updated: DateTime


class LocationReferences(OcpiModel):
    location_id: S39
    evse_uids: list[S39] = []
    connector_ids: list[S36] = []


class AuthorizationInfo(OcpiModel):
    allowed: AllowedType
    location: LocationReferences | None = None
    info: DisplayText | None = None


class CommandResponse(OcpiModel):
    result: CommandResponseType


# The asynchronous answer POSTed to response_url is the same object in 2.1.1.
CommandResult = CommandResponse


class ReserveNow(OcpiModel):
    response_url: URL
    token: Token
    expiry_date: DateTime
    reservation_id: int
    location_id: S39
    evse_uid: S39 | None = None


class StartSession(OcpiModel):
    response_url: URL
    token: Token
    location_id: S39
    evse_uid: S39 | None = None


class UnlockConnector(models.UnlockConnector):
    """2.1.1: location_id and evse_uid are string(39)."""

    location_id: S39
    evse_uid: S39


COMMANDS: dict[str, type[OcpiModel]] = {
    "RESERVE_NOW": ReserveNow,
    "START_SESSION": StartSession,
    "STOP_SESSION": StopSession,
    "UNLOCK_CONNECTOR": UnlockConnector,
}
MODULE_OBJECTS: dict[str, type[OcpiModel]] = {
    "locations": Location,
    "sessions": Session,
    "cdrs": CDR,
    "tariffs": Tariff,
    "tokens": Token,
}
NESTED: dict[tuple[type[OcpiModel], str], tuple[type[OcpiModel], str]] = {
    (Location, "evses"): (EVSE, "uid"),
    (EVSE, "connectors"): (Connector, "id"),
}
