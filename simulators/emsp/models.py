"""OCPI 2.2.1 wire objects as pydantic models, field for field with the spec's names and limits."""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from simulators.emsp.wire import parse_datetime

# ---------------------------------------------------------------------------------- scalar types


def _text(
    n: int, *, ascii: bool = False, pattern: str | None = None, what: str | None = None
) -> AfterValidator:
    """CiString(n) (printable ASCII) or string(n) (printable UTF-8), optionally with a format."""
    kind = what or (f"CiString({n})" if ascii else f"string({n})")
    compiled = re.compile(pattern) if pattern else None

    def check(value: str) -> str:
        if len(value) > n:
            raise ValueError(f"{kind} allows at most {n} characters, got {len(value)}")
        if ascii and not all(" " <= c <= "~" for c in value):
            raise ValueError(f"{kind} must be printable ASCII")
        if any(c < " " or c == "\x7f" for c in value):
            raise ValueError(f"{kind} must not contain control characters")
        if compiled and not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {kind}")
        return value

    return AfterValidator(check)


def _datetime(value: str) -> str:
    if len(value) > 25:
        raise ValueError(f"DateTime is string(25), got {len(value)} characters ({value!r})")
    parse_datetime(value)
    return value


def _time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        if zoneinfo.available_timezones():  # no tz database here: cannot judge
            raise ValueError(f"{value!r} is not an IANA time zone name") from exc
    return value


CiS4 = Annotated[str, _text(4, ascii=True)]
CiS32 = Annotated[str, _text(32, ascii=True)]
CiS36 = Annotated[str, _text(36, ascii=True)]
CiS39 = Annotated[str, _text(39, ascii=True)]
CiS48 = Annotated[str, _text(48, ascii=True)]
Str4 = Annotated[str, _text(4)]
Str10 = Annotated[str, _text(10)]
Str16 = Annotated[str, _text(16)]
Str20 = Annotated[str, _text(20)]
Str45 = Annotated[str, _text(45)]
Str64 = Annotated[str, _text(64)]
Str100 = Annotated[str, _text(100)]
Str255 = Annotated[str, _text(255)]
Str512 = Annotated[str, _text(512)]
Str5000 = Annotated[str, _text(5000)]
CountryCode = Annotated[
    str, _text(2, ascii=True, pattern="[A-Za-z]{2}", what="country_code (ISO 3166-1 alpha-2)")
]
PartyId = Annotated[str, _text(3, ascii=True, pattern="[A-Za-z0-9]{3}", what="party_id (3 chars)")]
Alpha3 = Annotated[str, _text(3, pattern="[A-Z]{3}", what="country (ISO 3166-1 alpha-3)")]
Currency = Annotated[str, _text(3, pattern="[A-Z]{3}", what="currency (ISO 4217)")]
Language = Annotated[str, _text(2, pattern="[A-Za-z]{2}", what="language (ISO 639-1)")]
HourMinute = Annotated[str, _text(5, pattern="([01][0-9]|2[0-3]):[0-5][0-9]", what="time (HH:MM)")]
Date = Annotated[str, _text(10, pattern=r"\d{4}-\d{2}-\d{2}", what="date (YYYY-MM-DD)")]
Latitude = Annotated[str, _text(10, pattern=r"-?[0-9]{1,2}\.[0-9]{5,7}", what="latitude")]
Longitude = Annotated[str, _text(11, pattern=r"-?[0-9]{1,3}\.[0-9]{5,7}", what="longitude")]
URL = Annotated[str, _text(255, pattern=r"https?://[^\s]+", what="URL")]
CredentialsToken = Annotated[
    str, _text(64, ascii=True, pattern=r"[!-~]+", what="token (printable ASCII, no spaces)")
]
TimeZone = Annotated[str, _text(255), AfterValidator(_time_zone)]
DateTime = Annotated[str, AfterValidator(_datetime)]
Number = float
Int5 = Annotated[int, Field(ge=0, le=99999)]

# ---------------------------------------------------------------------------------- enums

InterfaceRole = Literal["SENDER", "RECEIVER"]
VersionNumber = Literal["2.0", "2.1", "2.1.1", "2.2", "2.2.1"]
Role = Literal["CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP"]
ImageCategory = Literal["CHARGER", "ENTRANCE", "LOCATION", "NETWORK", "OPERATOR", "OTHER", "OWNER"]
Status = Literal[
    "AVAILABLE",
    "BLOCKED",
    "CHARGING",
    "INOPERATIVE",
    "OUTOFORDER",
    "PLANNED",
    "REMOVED",
    "RESERVED",
    "UNKNOWN",
]
Capability = Literal[
    "CHARGING_PROFILE_CAPABLE",
    "CHARGING_PREFERENCES_CAPABLE",
    "CHIP_CARD_SUPPORT",
    "CONTACTLESS_CARD_SUPPORT",
    "CREDIT_CARD_PAYABLE",
    "DEBIT_CARD_PAYABLE",
    "PED_TERMINAL",
    "REMOTE_START_STOP_CAPABLE",
    "RESERVABLE",
    "RFID_READER",
    "START_SESSION_CONNECTOR_REQUIRED",
    "TOKEN_GROUP_CAPABLE",
    "UNLOCK_CAPABLE",
]
ConnectorType = Literal[
    "CHADEMO",
    "CHAOJI",
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
    "DOMESTIC_M",
    "DOMESTIC_N",
    "DOMESTIC_O",
    "GBT_AC",
    "GBT_DC",
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
    "NEMA_5_20",
    "NEMA_6_30",
    "NEMA_6_50",
    "NEMA_10_30",
    "NEMA_10_50",
    "NEMA_14_30",
    "NEMA_14_50",
    "PANTOGRAPH_BOTTOM_UP",
    "PANTOGRAPH_TOP_DOWN",
    "TESLA_R",
    "TESLA_S",
]
ConnectorFormat = Literal["SOCKET", "CABLE"]
PowerType = Literal["AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC"]
ParkingType = Literal[
    "ALONG_MOTORWAY",
    "PARKING_GARAGE",
    "PARKING_LOT",
    "ON_DRIVEWAY",
    "ON_STREET",
    "UNDERGROUND_GARAGE",
]
ParkingRestriction = Literal["EV_ONLY", "PLUGGED", "DISABLED", "CUSTOMERS", "MOTORCYCLES"]
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
    "BIKE_SHARING",
    "BUS_STOP",
    "TAXI_STAND",
    "TRAM_STOP",
    "METRO_STATION",
    "TRAIN_STATION",
    "AIRPORT",
    "PARKING_LOT",
    "CARPOOL_PARKING",
    "FUEL_STATION",
    "WIFI",
]
EnergySourceCategory = Literal[
    "NUCLEAR", "GENERAL_FOSSIL", "COAL", "GAS", "GENERAL_GREEN", "SOLAR", "WIND", "WATER"
]
EnvironmentalImpactCategory = Literal["NUCLEAR_WASTE", "CARBON_DIOXIDE"]
TokenType = Literal["AD_HOC_USER", "APP_USER", "OTHER", "RFID"]
WhitelistType = Literal["ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"]
ProfileType = Literal["CHEAP", "FAST", "GREEN", "REGULAR"]
AllowedType = Literal["ALLOWED", "BLOCKED", "EXPIRED", "NO_CREDIT", "NOT_ALLOWED"]
SessionStatus = Literal["ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION"]
AuthMethod = Literal["AUTH_REQUEST", "COMMAND", "WHITELIST"]
CdrDimensionType = Literal[
    "CURRENT",
    "ENERGY",
    "ENERGY_EXPORT",
    "ENERGY_IMPORT",
    "MAX_CURRENT",
    "MIN_CURRENT",
    "MAX_POWER",
    "MIN_POWER",
    "PARKING_TIME",
    "POWER",
    "RESERVATION_TIME",
    "STATE_OF_CHARGE",
    "TIME",
]
TariffType = Literal["AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR"]
TariffDimensionType = Literal["ENERGY", "FLAT", "PARKING_TIME", "TIME"]
DayOfWeek = Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
ReservationRestrictionType = Literal["RESERVATION", "RESERVATION_EXPIRES"]
CommandType = Literal[
    "CANCEL_RESERVATION", "RESERVE_NOW", "START_SESSION", "STOP_SESSION", "UNLOCK_CONNECTOR"
]
CommandResponseType = Literal["ACCEPTED", "NOT_SUPPORTED", "REJECTED", "UNKNOWN_SESSION"]
ConnectionStatus = Literal["CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED"]
ChargingRateUnit = Literal["W", "A"]
ChargingProfileResponseType = Literal[
    "ACCEPTED", "NOT_SUPPORTED", "REJECTED", "TOO_OFTEN", "UNKNOWN_SESSION"
]
ChargingProfileResultType = Literal["ACCEPTED", "REJECTED", "UNKNOWN"]
CommandResultType = Literal[
    "ACCEPTED",
    "CANCELED_RESERVATION",
    "EVSE_OCCUPIED",
    "EVSE_INOPERATIVE",
    "FAILED",
    "NOT_SUPPORTED",
    "REJECTED",
    "TIMEOUT",
    "UNKNOWN_RESERVATION",
]


class OcpiModel(BaseModel):
    """Strict JSON types (no "1" for 1); unknown fields are allowed, as OCPI allows them."""

    model_config = ConfigDict(extra="allow", strict=True)


def _not_older(parent: str, children: list[Any], what: str) -> None:
    """A parent's last_updated includes its children's changes (receivers sync on it)."""
    top = parse_datetime(parent)
    for child in children:
        if parse_datetime(child.last_updated) > top:
            raise ValueError(f"last_updated {parent} is older than {what} {child.last_updated}")


# ---------------------------------------------------------------------------------- transport


class Envelope(OcpiModel):
    data: Any = None
    status_code: Annotated[int, Field(ge=1000, le=4999)]
    status_message: str | None = None
    timestamp: DateTime


class Version(OcpiModel):
    version: str
    url: URL


class Endpoint(OcpiModel):
    identifier: Annotated[str, _text(255, ascii=True, what="ModuleID")]
    role: InterfaceRole
    url: URL


class VersionDetails(OcpiModel):
    version: VersionNumber
    endpoints: Annotated[list[Endpoint], Field(min_length=1)]


# ---------------------------------------------------------------------------------- credentials


class Image(OcpiModel):
    url: URL
    thumbnail: URL | None = None
    category: ImageCategory
    type: CiS4
    width: Int5 | None = None
    height: Int5 | None = None


class BusinessDetails(OcpiModel):
    name: Str100
    website: URL | None = None
    logo: Image | None = None


class CredentialsRole(OcpiModel):
    role: Role
    business_details: BusinessDetails
    party_id: PartyId
    country_code: CountryCode


class Credentials(OcpiModel):
    token: CredentialsToken
    url: URL
    roles: Annotated[list[CredentialsRole], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_roles(self) -> Self:
        keys = [(r.role, r.party_id.upper(), r.country_code.upper()) for r in self.roles]
        if len(set(keys)) != len(keys):
            raise ValueError("each (role, party_id, country_code) must be unique in roles")
        return self


# ---------------------------------------------------------------------------------- locations


class DisplayText(OcpiModel):
    language: Language
    text: Str512


class GeoLocation(OcpiModel):
    latitude: Latitude
    longitude: Longitude


class AdditionalGeoLocation(GeoLocation):
    name: DisplayText | None = None


class RegularHours(OcpiModel):
    weekday: Annotated[int, Field(ge=1, le=7)]
    period_begin: HourMinute
    period_end: HourMinute


class ExceptionalPeriod(OcpiModel):
    period_begin: DateTime
    period_end: DateTime


class Hours(OcpiModel):
    twentyfourseven: bool
    regular_hours: list[RegularHours] = []
    exceptional_openings: list[ExceptionalPeriod] = []
    exceptional_closings: list[ExceptionalPeriod] = []

    @model_validator(mode="after")
    def _hours_when_not_always_open(self) -> Self:
        if not self.twentyfourseven and not self.regular_hours:
            raise ValueError("regular_hours needs at least one entry when twentyfourseven=false")
        return self


class EnergySource(OcpiModel):
    source: EnergySourceCategory
    percentage: Number


class EnvironmentalImpact(OcpiModel):
    category: EnvironmentalImpactCategory
    amount: Number


class EnergyMix(OcpiModel):
    is_green_energy: bool
    energy_sources: list[EnergySource] = []
    environ_impact: list[EnvironmentalImpact] = []
    supplier_name: Str64 | None = None
    energy_product_name: Str64 | None = None


class StatusSchedule(OcpiModel):
    period_begin: DateTime
    period_end: DateTime | None = None
    status: Status


class PublishTokenType(OcpiModel):
    uid: CiS36 | None = None
    type: TokenType | None = None
    visual_number: Str64 | None = None
    issuer: Str64 | None = None
    group_id: CiS36 | None = None

    @model_validator(mode="after")
    def _identifies_a_token(self) -> Self:
        if self.uid is None and self.visual_number is None and self.group_id is None:
            raise ValueError("one of uid, visual_number or group_id must be set")
        if self.uid is not None and self.type is None:
            raise ValueError("uid requires type")
        if self.visual_number is not None and self.issuer is None:
            raise ValueError("visual_number requires issuer")
        return self


class Connector(OcpiModel):
    id: CiS36
    standard: ConnectorType
    format: ConnectorFormat
    power_type: PowerType
    max_voltage: int
    max_amperage: int
    max_electric_power: int | None = None
    tariff_ids: list[CiS36] = []
    terms_and_conditions: URL | None = None
    last_updated: DateTime


class EVSE(OcpiModel):
    uid: CiS36
    evse_id: CiS48 | None = None
    status: Status
    status_schedule: list[StatusSchedule] = []
    capabilities: list[Capability] = []
    connectors: Annotated[list[Connector], Field(min_length=1)]
    floor_level: Str4 | None = None
    coordinates: GeoLocation | None = None
    physical_reference: Str16 | None = None
    directions: list[DisplayText] = []
    parking_restrictions: list[ParkingRestriction] = []
    images: list[Image] = []
    last_updated: DateTime

    @model_validator(mode="after")
    def _includes_connectors(self) -> Self:
        _not_older(self.last_updated, self.connectors, "a connector's")
        return self


class Location(OcpiModel):
    country_code: CountryCode
    party_id: PartyId
    id: CiS36
    publish: bool
    publish_allowed_to: list[PublishTokenType] = []
    name: Str255 | None = None
    # Lengths of address and state as the 2.2.1 bugfix branch widened them (45 -> 255, 20 -> 45).
    address: Str255
    city: Str45
    postal_code: Str10 | None = None
    state: Str45 | None = None
    country: Alpha3
    coordinates: GeoLocation
    related_locations: list[AdditionalGeoLocation] = []
    parking_type: ParkingType | None = None
    evses: list[EVSE] = []
    directions: list[DisplayText] = []
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: list[Facility] = []
    time_zone: TimeZone
    opening_times: Hours | None = None
    charging_when_closed: bool | None = None
    images: list[Image] = []
    energy_mix: EnergyMix | None = None
    last_updated: DateTime

    @model_validator(mode="after")
    def _includes_evses(self) -> Self:
        _not_older(self.last_updated, self.evses, "an EVSE's")
        return self


# ---------------------------------------------------------------------------------- sessions, cdrs


class CdrToken(OcpiModel):
    country_code: CountryCode
    party_id: PartyId
    uid: CiS36
    type: TokenType
    contract_id: CiS36


class CdrDimension(OcpiModel):
    type: CdrDimensionType
    volume: Number


class ChargingPeriod(OcpiModel):
    start_date_time: DateTime
    dimensions: Annotated[list[CdrDimension], Field(min_length=1)]
    tariff_id: CiS36 | None = None


class Price(OcpiModel):
    excl_vat: Number
    incl_vat: Number | None = None


class Session(OcpiModel):
    country_code: CountryCode
    party_id: PartyId
    id: CiS36
    start_date_time: DateTime
    end_date_time: DateTime | None = None
    kwh: Number
    cdr_token: CdrToken
    auth_method: AuthMethod
    authorization_reference: CiS36 | None = None
    location_id: CiS36
    evse_uid: CiS36
    connector_id: CiS36
    meter_id: Str255 | None = None
    currency: Currency
    charging_periods: list[ChargingPeriod] = []
    total_cost: Price | None = None
    status: SessionStatus
    last_updated: DateTime


class CdrLocation(OcpiModel):
    id: CiS36
    name: Str255 | None = None
    address: Str45
    city: Str45
    postal_code: Str10 | None = None
    state: Str20 | None = None
    country: Alpha3
    coordinates: GeoLocation
    evse_uid: CiS36
    evse_id: CiS48
    connector_id: CiS36
    connector_standard: ConnectorType
    connector_format: ConnectorFormat
    connector_power_type: PowerType


class SignedValue(OcpiModel):
    nature: CiS32
    plain_data: Str5000  # string(512) in d2, 5000 on the bugfix branch
    signed_data: Str5000


class SignedData(OcpiModel):
    encoding_method: CiS36
    encoding_method_version: int | None = None
    public_key: Str512 | None = None
    signed_values: Annotated[list[SignedValue], Field(min_length=1)]
    url: Str512 | None = None


# ---------------------------------------------------------------------------------- tariffs


class PriceComponent(OcpiModel):
    type: TariffDimensionType
    price: Number
    vat: Number | None = None
    step_size: Annotated[int, Field(ge=0)]


class TariffRestrictions(OcpiModel):
    start_time: HourMinute | None = None
    end_time: HourMinute | None = None
    start_date: Date | None = None
    end_date: Date | None = None
    min_kwh: Number | None = None
    max_kwh: Number | None = None
    min_current: Number | None = None
    max_current: Number | None = None
    min_power: Number | None = None
    max_power: Number | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    day_of_week: list[DayOfWeek] = []
    reservation: ReservationRestrictionType | None = None


class TariffElement(OcpiModel):
    price_components: Annotated[list[PriceComponent], Field(min_length=1)]
    restrictions: TariffRestrictions | None = None

    @model_validator(mode="after")
    def _reservation_prices_flat_or_time(self) -> Self:
        if self.restrictions and self.restrictions.reservation:
            if any(c.type not in ("FLAT", "TIME") for c in self.price_components):
                raise ValueError("a reservation restriction allows only FLAT and TIME components")
        return self


class Tariff(OcpiModel):
    country_code: CountryCode
    party_id: PartyId
    id: CiS36
    currency: Currency
    type: TariffType | None = None
    tariff_alt_text: list[DisplayText] = []
    tariff_alt_url: URL | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    elements: Annotated[list[TariffElement], Field(min_length=1)]
    start_date_time: DateTime | None = None
    end_date_time: DateTime | None = None
    energy_mix: EnergyMix | None = None
    last_updated: DateTime


class CDR(OcpiModel):
    country_code: CountryCode
    party_id: PartyId
    id: CiS39
    start_date_time: DateTime
    end_date_time: DateTime
    session_id: CiS36 | None = None
    cdr_token: CdrToken
    auth_method: AuthMethod
    authorization_reference: CiS36 | None = None
    cdr_location: CdrLocation
    meter_id: Str255 | None = None
    currency: Currency
    tariffs: list[Tariff] = []
    charging_periods: Annotated[list[ChargingPeriod], Field(min_length=1)]
    signed_data: SignedData | None = None
    total_cost: Price
    total_fixed_cost: Price | None = None
    total_energy: Number
    total_energy_cost: Price | None = None
    total_time: Number
    total_time_cost: Price | None = None
    total_parking_time: Number | None = None
    total_parking_cost: Price | None = None
    total_reservation_cost: Price | None = None
    remark: Str255 | None = None
    invoice_reference_id: CiS39 | None = None
    credit: bool | None = None
    credit_reference_id: CiS39 | None = None
    home_charging_compensation: bool | None = None
    last_updated: DateTime

    @model_validator(mode="after")
    def _credit_names_its_original(self) -> Self:
        if self.credit and not self.credit_reference_id:
            raise ValueError("credit_reference_id is required when credit=true")
        return self


# ---------------------------------------------------------------------------------- tokens, commands


class EnergyContract(OcpiModel):
    supplier_name: Str64
    contract_id: Str64 | None = None


class Token(OcpiModel):
    country_code: CountryCode
    party_id: PartyId
    uid: CiS36
    type: TokenType
    contract_id: CiS36
    visual_number: Str64 | None = None
    issuer: Str64
    group_id: CiS36 | None = None
    valid: bool
    whitelist: WhitelistType
    language: Language | None = None
    default_profile_type: ProfileType | None = None
    energy_contract: EnergyContract | None = None
    last_updated: DateTime


class LocationReferences(OcpiModel):
    location_id: CiS36
    evse_uids: list[CiS36] = []


class AuthorizationInfo(OcpiModel):
    allowed: AllowedType
    token: Token
    location: LocationReferences | None = None
    authorization_reference: CiS36 | None = None
    info: DisplayText | None = None


class CommandResponse(OcpiModel):
    result: CommandResponseType
    timeout: Annotated[int, Field(ge=0)]
    message: list[DisplayText] = []


class CommandResult(OcpiModel):
    result: CommandResultType
    message: list[DisplayText] = []


# ---------------------------------------------------------------------------------- charging profiles

ChargingRateUnit = Literal["W", "A"]
ChargingProfileResponseType = Literal[
    "ACCEPTED", "NOT_SUPPORTED", "REJECTED", "TOO_OFTEN", "UNKNOWN_SESSION"
]
ChargingProfileResultType = Literal["ACCEPTED", "REJECTED", "UNKNOWN"]


def _one_decimal(value: float) -> float:
    """A limit "accepts at most one digit fraction" (e.g. 8.1)."""
    if round(value, 1) != value:
        raise ValueError(f"a limit has at most one digit of fraction, got {value}")
    return value


class ChargingProfilePeriod(OcpiModel):
    start_period: Annotated[int, Field(ge=0)]
    limit: Annotated[Number, AfterValidator(_one_decimal)]


class ChargingProfile(OcpiModel):
    start_date_time: DateTime | None = None
    duration: Annotated[int, Field(ge=0)] | None = None
    charging_rate_unit: ChargingRateUnit
    min_charging_rate: Number | None = None
    charging_profile_period: list[ChargingProfilePeriod] = []


class ActiveChargingProfile(OcpiModel):
    start_date_time: DateTime
    charging_profile: ChargingProfile


class ChargingProfileResponse(OcpiModel):
    result: ChargingProfileResponseType
    timeout: Annotated[int, Field(ge=0)]


class ActiveChargingProfileResult(OcpiModel):
    result: ChargingProfileResultType
    profile: ActiveChargingProfile | None = None

    @model_validator(mode="after")
    def _profile_only_when_accepted(self) -> Self:
        if self.profile is not None and self.result != "ACCEPTED":
            raise ValueError("profile is sent only with an ACCEPTED result")
        return self


class ChargingProfileResult(OcpiModel):
    result: ChargingProfileResultType


class ClearProfileResult(OcpiModel):
    result: ChargingProfileResultType


class SetChargingProfile(OcpiModel):
    charging_profile: ChargingProfile
    response_url: URL


# The result each request of the receiver interface is answered with, at its response_url.
PROFILE_RESULTS: dict[str, type[OcpiModel]] = {
    "GET": ActiveChargingProfileResult,
    "PUT": ChargingProfileResult,
    "DELETE": ClearProfileResult,
}

# ---------------------------------------------------------------------------------- hubclientinfo


class ClientInfo(OcpiModel):
    party_id: PartyId
    country_code: CountryCode
    role: Role
    status: ConnectionStatus
    last_updated: DateTime


# What each module's objects are, for lists, single GETs and PATCH bodies.
MODULE_OBJECTS: dict[str, type[OcpiModel]] = {
    "locations": Location,
    "sessions": Session,
    "cdrs": CDR,
    "tariffs": Tariff,
    "tokens": Token,
}
# PATCH merges nested lists per item: (model, list field) -> (item model, item key).
NESTED: dict[tuple[type[OcpiModel], str], tuple[type[OcpiModel], str]] = {
    (Location, "evses"): (EVSE, "uid"),
    (EVSE, "connectors"): (Connector, "id"),
}


# ---------------------------------------------------------------------------------- commands we send


class CancelReservation(OcpiModel):
    response_url: URL
    reservation_id: CiS36


class ReserveNow(OcpiModel):
    response_url: URL
    token: Token
    expiry_date: DateTime
    reservation_id: CiS36
    location_id: CiS36
    evse_uid: CiS36 | None = None
    authorization_reference: CiS36 | None = None


class StartSession(OcpiModel):
    response_url: URL
    token: Token
    location_id: CiS36
    evse_uid: CiS36 | None = None
    connector_id: CiS36 | None = None
    authorization_reference: CiS36 | None = None


class StopSession(OcpiModel):
    response_url: URL
    session_id: CiS36


class UnlockConnector(OcpiModel):
    response_url: URL
    location_id: CiS36
    evse_uid: CiS36
    connector_id: CiS36


COMMANDS: dict[str, type[OcpiModel]] = {
    "CANCEL_RESERVATION": CancelReservation,
    "RESERVE_NOW": ReserveNow,
    "START_SESSION": StartSession,
    "STOP_SESSION": StopSession,
    "UNLOCK_CONNECTOR": UnlockConnector,
}
