"""OCPI 2.2.1 CDR objects (mod_cdrs), and the types Sessions share with them: CdrToken,
ChargingPeriod, AuthMethod.

Amounts of a CDR may be negative: a credit CDR negates every amount of the one it credits."""

from __future__ import annotations

import enum
from typing import Annotated, Self

from pydantic import Field, model_validator

from cpo.locations.v221 import ConnectorFormat, ConnectorType, GeoLocation, PowerType
from cpo.ocpi.models import CountryCode, DateTime, PartyId, Wire, cistring, string
from cpo.tariffs.v221 import Currency, Tariff
from cpo.tokens.v221 import TokenType


class AuthMethod(enum.StrEnum):
    AUTH_REQUEST = "AUTH_REQUEST"
    COMMAND = "COMMAND"
    WHITELIST = "WHITELIST"


class CdrDimensionType(enum.StrEnum):
    CURRENT = "CURRENT"
    ENERGY = "ENERGY"
    ENERGY_EXPORT = "ENERGY_EXPORT"
    ENERGY_IMPORT = "ENERGY_IMPORT"
    MAX_CURRENT = "MAX_CURRENT"
    MIN_CURRENT = "MIN_CURRENT"
    MAX_POWER = "MAX_POWER"
    MIN_POWER = "MIN_POWER"
    PARKING_TIME = "PARKING_TIME"
    POWER = "POWER"
    RESERVATION_TIME = "RESERVATION_TIME"
    STATE_OF_CHARGE = "STATE_OF_CHARGE"
    TIME = "TIME"


class CdrToken(Wire):
    country_code: CountryCode
    party_id: PartyId
    uid: Annotated[str, cistring(36)]
    type: TokenType
    contract_id: Annotated[str, cistring(36)]


class CdrDimension(Wire):
    type: CdrDimensionType
    volume: float


class ChargingPeriod(Wire):
    start_date_time: DateTime
    dimensions: Annotated[list[CdrDimension], Field(min_length=1)]
    tariff_id: Annotated[str, cistring(36)] | None = None


class Cost(Wire):
    """A Price as a CDR or Session carries it: negative in a credit CDR."""

    excl_vat: float
    incl_vat: float | None = None


class CdrLocation(Wire):
    id: Annotated[str, cistring(36)]
    name: Annotated[str, string(255)] | None = None
    address: Annotated[str, string(45)]
    city: Annotated[str, string(45)]
    postal_code: Annotated[str, string(10)] | None = None
    state: Annotated[str, string(20)] | None = None
    country: Annotated[str, string(3, 3)]
    coordinates: GeoLocation
    evse_uid: Annotated[str, cistring(36)]
    evse_id: Annotated[str, cistring(48)]
    connector_id: Annotated[str, cistring(36)]
    connector_standard: ConnectorType
    connector_format: ConnectorFormat
    connector_power_type: PowerType


class SignedValue(Wire):
    nature: Annotated[str, cistring(32)]
    plain_data: Annotated[str, string(5000)]
    signed_data: Annotated[str, string(5000)]


class SignedData(Wire):
    encoding_method: Annotated[str, cistring(36)]
    encoding_method_version: int | None = None
    public_key: Annotated[str, string(512)] | None = None
    signed_values: Annotated[list[SignedValue], Field(min_length=1)]
    url: Annotated[str, string(512)] | None = None


class CDR(Wire):
    country_code: CountryCode
    party_id: PartyId
    id: Annotated[str, cistring(39)]
    start_date_time: DateTime
    end_date_time: DateTime
    session_id: Annotated[str, cistring(36)] | None = None
    cdr_token: CdrToken
    auth_method: AuthMethod
    authorization_reference: Annotated[str, cistring(36)] | None = None
    cdr_location: CdrLocation
    meter_id: Annotated[str, string(255)] | None = None
    currency: Currency
    tariffs: list[Tariff] | None = None
    charging_periods: Annotated[list[ChargingPeriod], Field(min_length=1)]
    signed_data: SignedData | None = None
    total_cost: Cost
    total_fixed_cost: Cost | None = None
    total_energy: float
    total_energy_cost: Cost | None = None
    total_time: float
    total_time_cost: Cost | None = None
    total_parking_time: float | None = None
    total_parking_cost: Cost | None = None
    total_reservation_cost: Cost | None = None
    remark: Annotated[str, string(255)] | None = None
    invoice_reference_id: Annotated[str, cistring(39)] | None = None
    credit: bool | None = None
    credit_reference_id: Annotated[str, cistring(39)] | None = None
    home_charging_compensation: bool | None = None
    last_updated: DateTime

    @model_validator(mode="after")
    def _credit_names_what_it_credits(self) -> Self:
        if self.credit and not self.credit_reference_id:
            raise ValueError("a credit CDR names the CDR it credits (credit_reference_id)")
        return self
