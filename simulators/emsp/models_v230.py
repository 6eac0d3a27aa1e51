"""OCPI 2.3.0 wire objects: 2.2.1 (models.py) with taxes in prices, new optional location fields,
`hub_party_id` in credentials, and OpenEnums that take values the spec does not list.

2.3.0 says undocumented JSON fields SHALL NOT be rejected and OpenEnum values may be extended
(C tf §Non-specified JSON fields, C types §OpenEnum): OpenEnums are plain strings here."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from simulators.emsp.models import (
    URL,
    AdditionalGeoLocation,
    AllowedType,
    Alpha3,
    AuthMethod,
    CdrDimension,
    ChargingPeriod,
    CiS4,
    CiS36,
    CiS39,
    CiS48,
    CommandResponse,
    CommandResult,
    ConnectorFormat,
    CountryCode,
    CredentialsToken,
    Currency,
    DateTime,
    DisplayText,
    EnergyContract,
    EnergySource,
    GeoLocation,
    Hours,
    Int5,
    Language,
    LocationReferences,
    Number,
    OcpiModel,
    PartyId,
    PowerType,
    ProfileType,
    SessionStatus,
    SignedData,
    Status,
    StatusSchedule,
    Str4,
    Str16,
    Str45,
    Str64,
    Str100,
    Str255,
    TariffElement,
    TariffType,
    WhitelistType,
    _not_older,
    _text,
)

VERSION = "2.3.0"

__all__ = ["CdrDimension", "ChargingPeriod", "CommandResponse", "CommandResult"]

# OpenEnums (C types §OpenEnum): any string; the listed values are not a closed set.
OpenEnum = Annotated[str, _text(255, ascii=True, what="OpenEnum value")]
Role = Literal["CPO", "EMSP", "NAP", "NSP", "OTHER", "SCSP"]  # HUB is gone in 2.3.0
TaxIncluded = Literal["YES", "NO", "N/A"]
InterfaceRole = Literal["SENDER", "RECEIVER"]
CiS25 = Annotated[str, _text(25, ascii=True)]
CiS5 = Annotated[str, _text(5, ascii=True)]
Str12 = Annotated[str, _text(12)]
Str50 = Annotated[str, _text(50)]

# ---------------------------------------------------------------------------------- transport


class Version(OcpiModel):
    version: OpenEnum
    url: URL


class Endpoint(OcpiModel):
    identifier: OpenEnum
    role: InterfaceRole
    url: URL


class VersionDetails(OcpiModel):
    version: OpenEnum
    endpoints: Annotated[list[Endpoint], Field(min_length=1)]


class Image(OcpiModel):
    url: URL
    thumbnail: URL | None = None
    category: OpenEnum
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
    hub_party_id: CiS5 | None = None
    roles: Annotated[list[CredentialsRole], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_roles(self) -> Self:
        keys = [(r.role, r.party_id.upper(), r.country_code.upper()) for r in self.roles]
        if len(set(keys)) != len(keys):
            raise ValueError("each (role, party_id, country_code) must be unique in roles")
        return self


# ---------------------------------------------------------------------------------- locations


class EnvironmentalImpact(OcpiModel):
    category: OpenEnum
    amount: Number


class EnergyMix(OcpiModel):
    is_green_energy: bool
    energy_sources: list[EnergySource] = []
    environ_impact: list[EnvironmentalImpact] = []
    supplier_name: Str64 | None = None
    energy_product_name: Str64 | None = None


class PublishTokenType(OcpiModel):
    uid: CiS36 | None = None
    type: OpenEnum | None = None
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


class Parking(OcpiModel):
    id: CiS36
    physical_reference: Str12 | None = None
    vehicle_types: Annotated[list[OpenEnum], Field(min_length=1)]
    max_vehicle_weight: Number | None = None
    max_vehicle_height: Number | None = None
    max_vehicle_length: Number | None = None
    max_vehicle_width: Number | None = None
    parking_space_length: Number | None = None
    parking_space_width: Number | None = None
    dangerous_goods_allowed: bool | None = None
    direction: str | None = None
    drive_through: bool | None = None
    restricted_to_type: bool
    reservation_required: bool
    time_limit: Number | None = None
    roofed: bool | None = None
    images: list[Image] = []
    lighting: bool | None = None
    refrigeration_outlet: bool | None = None
    standards: list[CiS36] = []
    apds_reference: str | None = None


class EVSEParking(OcpiModel):
    parking_id: CiS36
    evse_position: str | None = None


class Connector(OcpiModel):
    id: CiS36
    standard: OpenEnum
    format: ConnectorFormat
    power_type: PowerType
    max_voltage: int
    max_amperage: int
    max_electric_power: int | None = None
    tariff_ids: list[CiS36] = []
    terms_and_conditions: URL | None = None
    capabilities: list[OpenEnum] = []
    last_updated: DateTime


class EVSE(OcpiModel):
    uid: CiS36
    evse_id: CiS48 | None = None
    status: Status
    status_schedule: list[StatusSchedule] = []
    capabilities: list[OpenEnum] = []
    connectors: Annotated[list[Connector], Field(min_length=1)]
    floor_level: Str4 | None = None
    coordinates: GeoLocation | None = None
    physical_reference: Str16 | None = None
    directions: list[DisplayText] = []
    parking_restrictions: list[OpenEnum] = []
    parking: list[EVSEParking] = []
    images: list[Image] = []
    accepted_service_providers: list[Str50] = []
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
    address: Str255
    city: Str45
    postal_code: Annotated[str, _text(10)] | None = None
    state: Str45 | None = None
    country: Alpha3
    coordinates: GeoLocation
    related_locations: list[AdditionalGeoLocation] = []
    parking_type: OpenEnum | None = None
    evses: list[EVSE] = []
    parking_places: list[Parking] = []
    directions: list[DisplayText] = []
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: list[OpenEnum] = []
    time_zone: Annotated[str, _text(255)]
    opening_times: Hours | None = None
    charging_when_closed: bool | None = None
    images: list[Image] = []
    energy_mix: EnergyMix | None = None
    help_phone: CiS25 | None = None
    last_updated: DateTime

    @model_validator(mode="after")
    def _includes_evses(self) -> Self:
        _not_older(self.last_updated, self.evses, "an EVSE's")
        return self


# ---------------------------------------------------------------------------------- prices, tariffs


class TaxAmount(OcpiModel):
    name: str
    account_number: str | None = None
    percentage: Number | None = None
    amount: Number


class Price(OcpiModel):
    before_taxes: Number
    taxes: list[TaxAmount] = []


class PriceLimit(OcpiModel):
    before_taxes: Number
    after_taxes: Number | None = None


class Tariff(OcpiModel):
    country_code: CountryCode
    party_id: PartyId
    id: CiS36
    currency: Currency
    type: TariffType | None = None
    tariff_alt_text: list[DisplayText] = []
    tariff_alt_url: URL | None = None
    min_price: PriceLimit | None = None
    max_price: PriceLimit | None = None
    elements: Annotated[list[TariffElement], Field(min_length=1)]
    tax_included: TaxIncluded
    start_date_time: DateTime | None = None
    end_date_time: DateTime | None = None
    energy_mix: EnergyMix | None = None
    last_updated: DateTime


# ---------------------------------------------------------------------------------- sessions, cdrs


class CdrToken(OcpiModel):
    country_code: CountryCode
    party_id: PartyId
    uid: CiS36
    type: OpenEnum
    contract_id: CiS36


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
    address: Str255
    city: Str45
    postal_code: Annotated[str, _text(10)] | None = None
    state: Str45 | None = None
    country: Alpha3
    coordinates: GeoLocation
    evse_uid: CiS36
    evse_id: CiS48
    connector_id: CiS36
    connector_standard: OpenEnum
    connector_format: ConnectorFormat
    connector_power_type: PowerType


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


class Token(OcpiModel):
    country_code: CountryCode
    party_id: PartyId
    uid: CiS36
    type: OpenEnum
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


class AuthorizationInfo(OcpiModel):
    allowed: AllowedType
    token: Token
    location: LocationReferences | None = None
    authorization_reference: CiS36 | None = None
    info: DisplayText | None = None


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
