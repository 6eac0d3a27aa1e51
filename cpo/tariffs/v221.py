"""OCPI 2.2.1 Tariff objects (mod_tariffs), and the operator's input form."""

from __future__ import annotations

import enum
import re
from datetime import date
from typing import Annotated, Any, Self

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from cpo.locations.v221 import EnergyMix
from cpo.ocpi.models import (
    URL,
    CountryCode,
    DateTime,
    DisplayText,
    HourMinute,
    PartyId,
    Price,
    Wire,
    cistring,
    invalid,
)

__all__ = [
    "DayOfWeek",
    "PriceComponent",
    "ReservationRestrictionType",
    "Tariff",
    "TariffDimensionType",
    "TariffElement",
    "TariffIn",
    "TariffRestrictions",
    "TariffType",
]


class TariffDimensionType(enum.StrEnum):
    ENERGY = "ENERGY"
    FLAT = "FLAT"
    PARKING_TIME = "PARKING_TIME"
    TIME = "TIME"


class DayOfWeek(enum.StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


class ReservationRestrictionType(enum.StrEnum):
    RESERVATION = "RESERVATION"
    RESERVATION_EXPIRES = "RESERVATION_EXPIRES"


class TariffType(enum.StrEnum):
    AD_HOC_PAYMENT = "AD_HOC_PAYMENT"
    PROFILE_CHEAP = "PROFILE_CHEAP"
    PROFILE_FAST = "PROFILE_FAST"
    PROFILE_GREEN = "PROFILE_GREEN"
    REGULAR = "REGULAR"


def _calendar_date(value: str) -> str:
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise invalid(f"{value!r} is not a date YYYY-MM-DD") from None
    return value


CalendarDate = Annotated[str, AfterValidator(_calendar_date)]


def _currency(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise invalid(f"{value!r} is not an ISO 4217 currency code (like 'EUR')")
    return value


Currency = Annotated[str, AfterValidator(_currency)]


Amount = Annotated[float, Field(ge=0)]


class PriceComponent(Wire):
    type: TariffDimensionType
    price: Amount
    vat: Annotated[float, Field(ge=0, le=100)] | None = None
    step_size: Annotated[int, Field(ge=1)]


class TariffRestrictions(Wire):
    start_time: HourMinute | None = None
    end_time: HourMinute | None = None
    start_date: CalendarDate | None = None
    end_date: CalendarDate | None = None
    min_kwh: Amount | None = None
    max_kwh: Amount | None = None
    min_current: Amount | None = None
    max_current: Amount | None = None
    min_power: Amount | None = None
    max_power: Amount | None = None
    min_duration: Annotated[int, Field(ge=0)] | None = None
    max_duration: Annotated[int, Field(ge=0)] | None = None
    day_of_week: list[DayOfWeek] | None = None
    reservation: ReservationRestrictionType | None = None

    @model_validator(mode="after")
    def _ranges_not_empty(self) -> Self:
        # start_time after end_time is allowed: the period wraps past midnight.
        for low, high in (
            ("min_kwh", "max_kwh"),
            ("min_current", "max_current"),
            ("min_power", "max_power"),
            ("min_duration", "max_duration"),
        ):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise invalid(f"{low} ({lo}) is more than {high} ({hi})")
        if self.start_date and self.end_date and self.start_date >= self.end_date:
            raise invalid(
                f"start_date ({self.start_date}) must come before end_date ({self.end_date}),"
                " which is exclusive"
            )
        return self


class TariffElement(Wire):
    price_components: Annotated[list[PriceComponent], Field(min_length=1)]
    restrictions: TariffRestrictions | None = None

    @model_validator(mode="after")
    def _reservation_prices_flat_or_time(self) -> Self:
        if self.restrictions is not None and self.restrictions.reservation is not None:
            allowed = (TariffDimensionType.FLAT, TariffDimensionType.TIME)
            for component in self.price_components:
                if component.type not in allowed:
                    raise invalid(
                        f"price_components: a {component.type.value} component cannot have a"
                        " reservation restriction (only FLAT and TIME)"
                    )
        return self


def in_order(low: Any, high: Any, *amounts: str) -> bool:
    """Whether a min_price is at most its max_price in each of `amounts` both state."""
    if low is None or high is None:
        return True
    pairs = ((getattr(low, a), getattr(high, a)) for a in amounts)
    return all(lo <= hi for lo, hi in pairs if lo is not None and hi is not None)


class _TariffFields(Wire):
    id: Annotated[str, cistring(36)]
    currency: Currency
    type: TariffType | None = None
    tariff_alt_text: list[DisplayText] | None = None
    tariff_alt_url: URL | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    elements: Annotated[list[TariffElement], Field(min_length=1)]
    start_date_time: DateTime | None = None
    end_date_time: DateTime | None = None
    energy_mix: EnergyMix | None = None

    def _bounds_in_order(self) -> bool:
        return in_order(self.min_price, self.max_price, "excl_vat", "incl_vat")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self._bounds_in_order():
            raise invalid("min_price is more than max_price")
        if (
            self.start_date_time is not None
            and self.end_date_time is not None
            and self.start_date_time >= self.end_date_time
        ):
            raise invalid("start_date_time must come before end_date_time")
        return self


class Tariff(_TariffFields):
    country_code: CountryCode
    party_id: PartyId
    last_updated: DateTime


class TariffIn(_TariffFields):
    """A Tariff as the operator imports it; the platform fills its own country_code,
    party_id and last_updated where they are left out."""

    model_config = ConfigDict(extra="forbid")

    country_code: CountryCode | None = None
    party_id: PartyId | None = None
    last_updated: DateTime | None = None
