"""OCPI 2.3.0 wire objects: 2.2.1 (models.py) with taxes in prices, new optional location fields,
`hub_party_id` in credentials, and OpenEnums that take values the spec does not list.

2.3.0 says undocumented JSON fields SHALL NOT be rejected and OpenEnum values may be extended
(C tf §Non-specified JSON fields, C types §OpenEnum): OpenEnums are plain strings here.

A class that 2.3.0 only changes in some fields subclasses its 2.2.1 namesake and redeclares just
those (fields 2.3.0 adds come last in a subclass, so they are checked after the inherited ones);
classes 2.3.0 leaves as they are are imported from models.py."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from simulators.emsp import models
from simulators.emsp.models import (
    PROFILE_RESULTS,
    ActiveChargingProfile,
    ActiveChargingProfileResult,
    CancelReservation,
    CdrDimension,
    ChargingPeriod,
    ChargingProfile,
    ChargingProfilePeriod,
    ChargingProfileResponse,
    ChargingProfileResult,
    CiS36,
    ClearProfileResult,
    CommandResponse,
    CommandResult,
    LocationReferences,
    Number,
    OcpiModel,
    SetChargingProfile,
    StopSession,
    Str45,
    Str255,
    UnlockConnector,
    _text,
)

VERSION = "2.3.0"

# Unchanged from 2.2.1, served under this module's name like the classes redeclared below.
# ChargingProfiles is 2.2.1's word for word (2.3.0 only rewords what W means).
__all__ = [
    "PROFILE_RESULTS",
    "ActiveChargingProfile",
    "ActiveChargingProfileResult",
    "CancelReservation",
    "CdrDimension",
    "ChargingPeriod",
    "ChargingProfile",
    "ChargingProfilePeriod",
    "ChargingProfileResponse",
    "ChargingProfileResult",
    "ClearProfileResult",
    "CommandResponse",
    "CommandResult",
    "LocationReferences",
    "SetChargingProfile",
    "StopSession",
    "UnlockConnector",
]

# OpenEnums (C types §OpenEnum): any string; the listed values are not a closed set.
OpenEnum = Annotated[str, _text(255, ascii=True, what="OpenEnum value")]
Role = Literal["CPO", "EMSP", "NAP", "NSP", "OTHER", "SCSP"]  # HUB is gone in 2.3.0
TaxIncluded = Literal["YES", "NO", "N/A"]
CiS25 = Annotated[str, _text(25, ascii=True)]
CiS5 = Annotated[str, _text(5, ascii=True)]
Str12 = Annotated[str, _text(12)]
Str50 = Annotated[str, _text(50)]

# ---------------------------------------------------------------------------------- transport
# Each class below is its 2.2.1 namesake with only the fields 2.3.0 changes redeclared; pydantic
# keeps the inherited fields, defaults and model validators (which then see the new field types).


class Version(models.Version):
    """2.3.0: version is an OpenEnum (any version string)."""

    version: OpenEnum


class Endpoint(models.Endpoint):
    """2.3.0: identifier (ModuleID) is an OpenEnum."""

    identifier: OpenEnum


class VersionDetails(models.VersionDetails):
    """2.3.0: version is an OpenEnum; endpoints are 2.3.0 Endpoints."""

    version: OpenEnum
    endpoints: Annotated[list[Endpoint], Field(min_length=1)]


class Image(models.Image):
    """2.3.0: category is an OpenEnum."""

    category: OpenEnum


class BusinessDetails(models.BusinessDetails):
    """2.3.0: logo is a 2.3.0 Image."""

    logo: Image | None = None


class CredentialsRole(models.CredentialsRole):
    """2.3.0: role has no HUB; business_details are 2.3.0 BusinessDetails."""

    role: Role
    business_details: BusinessDetails


class Credentials(models.Credentials):
    """2.3.0: adds hub_party_id; roles are 2.3.0 CredentialsRoles (still unique, inherited check)."""

    hub_party_id: CiS5 | None = None
    roles: Annotated[list[CredentialsRole], Field(min_length=1)]


# ---------------------------------------------------------------------------------- locations


class EnvironmentalImpact(models.EnvironmentalImpact):
    """2.3.0: category is an OpenEnum."""

    category: OpenEnum


class EnergyMix(models.EnergyMix):
    """2.3.0: environ_impact holds 2.3.0 EnvironmentalImpacts."""

    environ_impact: list[EnvironmentalImpact] = []


class PublishTokenType(models.PublishTokenType):
    """2.3.0: type is an OpenEnum (the inherited uid/visual_number/group_id rules still apply)."""

    type: OpenEnum | None = None


class Parking(OcpiModel):
    """New in 2.3.0: a parking place of a Location."""

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
    """New in 2.3.0: which Parking an EVSE serves."""

    parking_id: CiS36
    evse_position: str | None = None


class Connector(models.Connector):
    """2.3.0: standard is an OpenEnum; adds capabilities."""

    standard: OpenEnum
    capabilities: list[OpenEnum] = []


class EVSE(models.EVSE):
    """2.3.0: OpenEnum capabilities and parking_restrictions, 2.3.0 Connectors and Images;
    adds parking and accepted_service_providers. last_updated still covers the connectors."""

    capabilities: list[OpenEnum] = []
    connectors: Annotated[list[Connector], Field(min_length=1)]
    parking_restrictions: list[OpenEnum] = []
    parking: list[EVSEParking] = []
    images: list[Image] = []
    accepted_service_providers: list[Str50] = []


class Location(models.Location):
    """2.3.0: OpenEnum parking_type and facilities, time_zone not checked against the tz database,
    2.3.0 nested objects; adds parking_places and help_phone. last_updated still covers EVSEs."""

    publish_allowed_to: list[PublishTokenType] = []
    parking_type: OpenEnum | None = None
    evses: list[EVSE] = []
    parking_places: list[Parking] = []
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: list[OpenEnum] = []
    time_zone: Str255
    images: list[Image] = []
    energy_mix: EnergyMix | None = None
    help_phone: CiS25 | None = None


# ---------------------------------------------------------------------------------- prices, tariffs


class TaxAmount(OcpiModel):
    """New in 2.3.0: one tax in a Price."""

    name: str
    account_number: str | None = None
    percentage: Number | None = None
    amount: Number


class Price(OcpiModel):
    """2.3.0: before_taxes and a list of taxes (2.2.1 has excl_vat/incl_vat)."""

    before_taxes: Number
    taxes: list[TaxAmount] = []


class PriceLimit(OcpiModel):
    """New in 2.3.0: a Tariff's min_price/max_price."""

    before_taxes: Number
    after_taxes: Number | None = None


class Tariff(models.Tariff):
    """2.3.0: min_price/max_price are PriceLimits, 2.3.0 EnergyMix; adds tax_included."""

    min_price: PriceLimit | None = None
    max_price: PriceLimit | None = None
    tax_included: TaxIncluded
    energy_mix: EnergyMix | None = None


# ---------------------------------------------------------------------------------- sessions, cdrs


class CdrToken(models.CdrToken):
    """2.3.0: type is an OpenEnum."""

    type: OpenEnum


class Session(models.Session):
    """2.3.0: 2.3.0 CdrToken and Price."""

    cdr_token: CdrToken
    total_cost: Price | None = None


class CdrLocation(models.CdrLocation):
    """2.3.0: address string(255), state string(45), connector_standard an OpenEnum."""

    address: Str255
    state: Str45 | None = None
    connector_standard: OpenEnum


class CDR(models.CDR):
    """2.3.0: 2.3.0 CdrToken, CdrLocation, Tariffs and Prices (the inherited credit check holds)."""

    cdr_token: CdrToken
    cdr_location: CdrLocation
    tariffs: list[Tariff] = []
    total_cost: Price
    total_fixed_cost: Price | None = None
    total_energy_cost: Price | None = None
    total_time_cost: Price | None = None
    total_parking_cost: Price | None = None
    total_reservation_cost: Price | None = None


# ---------------------------------------------------------------------------------- tokens, commands


class Token(models.Token):
    """2.3.0: type is an OpenEnum."""

    type: OpenEnum


class AuthorizationInfo(models.AuthorizationInfo):
    """2.3.0: token is a 2.3.0 Token."""

    token: Token


class ReserveNow(models.ReserveNow):
    """2.3.0: token is a 2.3.0 Token."""

    token: Token


class StartSession(models.StartSession):
    """2.3.0: token is a 2.3.0 Token."""

    token: Token


# ---------------------------------------------------------------------------------- hubclientinfo


class ClientInfo(models.ClientInfo):
    """2.3.0: role has no HUB."""

    role: Role


# The 2.2.1 commands, with the two that carry a Token in their 2.3.0 form (same keys, same order).
COMMANDS: dict[str, type[OcpiModel]] = models.COMMANDS | {
    "RESERVE_NOW": ReserveNow,
    "START_SESSION": StartSession,
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
