"""OCPI 2.1.1 CDR objects (mod_cdrs), the types Sessions share with them (AuthMethod,
ChargingPeriod), and the converter from the stored 2.2.1 CDR.

What 2.1.1 differs in: no country_code, party_id, session_id, authorization_reference,
signed_data, invoice_reference_id, credit, credit_reference_id or home_charging_compensation;
the id is string(36) (2.2.1: 39, room for a credit suffix); the end is `stop_date_time`; the
token is referenced by `auth_id` (2.2.1 cdr_token.contract_id); the place is a whole Location
holding only the EVSE and connector used (2.2.1 cdr_location); `total_cost` is a number excl.
VAT and there is no cost breakdown; AuthMethod has no COMMAND; CdrDimensionType has FLAT and
lacks the current, power, import/export, reservation and state-of-charge types; a
ChargingPeriod names no tariff.

A credit CDR (2.2.1 `credit: true`) has no 2.1.1 form: 2.1.1 knows no credit, a CDR "can never
be changed", and a 2.1.1 eMSP would bill its negative amounts as a new charge. cdr_out refuses
it (NotIn211); a correction for a 2.1.1 eMSP is settled outside OCPI."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import Field

from cpo.locations.v211 import Location, location_out, narrowed
from cpo.locations.v221 import Status
from cpo.ocpi.models import Wire
from cpo.ocpi.models_v211 import DateTime, NotIn211, ascii_text, string
from cpo.tariffs.v211 import Tariff, tariff_out
from cpo.tariffs.v221 import Currency

__all__ = [
    "CDR",
    "AuthMethod",
    "CdrDimension",
    "CdrDimensionType",
    "ChargingPeriod",
    "auth_method_out",
    "cdr_out",
    "location_of",
    "charging_periods_out",
]


class AuthMethod(enum.StrEnum):
    AUTH_REQUEST = "AUTH_REQUEST"
    WHITELIST = "WHITELIST"


class CdrDimensionType(enum.StrEnum):
    ENERGY = "ENERGY"
    FLAT = "FLAT"
    MAX_CURRENT = "MAX_CURRENT"
    MIN_CURRENT = "MIN_CURRENT"
    PARKING_TIME = "PARKING_TIME"
    TIME = "TIME"


class CdrDimension(Wire):
    type: CdrDimensionType
    volume: float


class ChargingPeriod(Wire):
    start_date_time: DateTime
    dimensions: Annotated[list[CdrDimension], Field(min_length=1)]


class CDR(Wire):
    id: Annotated[str, string(36, 1)]
    start_date_time: DateTime
    stop_date_time: DateTime
    auth_id: Annotated[str, string(36, 1)]
    auth_method: AuthMethod
    location: Location
    meter_id: Annotated[str, string(255)] | None = None
    currency: Currency
    tariffs: list[Tariff] | None = None
    charging_periods: Annotated[list[ChargingPeriod], Field(min_length=1)]
    total_cost: float
    total_energy: float
    total_time: float
    total_parking_time: float | None = None
    remark: Annotated[str, string(255)] | None = None
    last_updated: DateTime


_DIMENSIONS = {t.value for t in CdrDimensionType}


def auth_method_out(stored: str) -> str:
    """COMMAND (a remote start) is the eMSP's own authorization: AUTH_REQUEST in 2.1.1."""
    return AuthMethod.AUTH_REQUEST if stored == "COMMAND" else stored


def charging_periods_out(stored: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Stored 2.2.1 ChargingPeriods without their tariff_id and the dimensions 2.1.1 lacks; a
    period left without dimensions is left out."""
    out = []
    for period in stored or []:
        dimensions = [d for d in period["dimensions"] if d["type"] in _DIMENSIONS]
        if dimensions:
            out.append({"start_date_time": period["start_date_time"], "dimensions": dimensions})
    return out


def location_of(place: dict[str, Any], stamp: str) -> dict[str, Any]:
    """A stored (2.2.1) Location made of a CdrLocation, for when the Location itself is gone.
    It lacks what 2.1.1 requires, so: type UNKNOWN, EVSE status UNKNOWN, voltage and amperage
    0 (not known), postal_code empty when not given, and `stamp` as every last_updated."""
    connector = {
        "id": place["connector_id"],
        "standard": place["connector_standard"],
        "format": place["connector_format"],
        "power_type": place["connector_power_type"],
        "max_voltage": 0,
        "max_amperage": 0,
        "last_updated": stamp,
    }
    evse = {
        "uid": place["evse_uid"],
        "evse_id": place["evse_id"],
        "status": Status.UNKNOWN,
        "connectors": [connector],
        "last_updated": stamp,
    }
    stored = {k: place[k] for k in ("id", "name", "address", "city", "postal_code") if k in place}
    return stored | {
        "country": place["country"],
        "coordinates": place["coordinates"],
        "evses": [evse],
        "last_updated": stamp,
    }


def _location(cdr: dict[str, Any], location: dict[str, Any] | None) -> dict[str, Any]:
    place = cdr["cdr_location"]
    if location is not None:
        at = narrowed(location, place["evse_uid"], place["connector_id"])
        if at is not None:
            out = location_out(at)
            if out.get("evses"):
                return out
    return location_out(location_of(place, cdr["last_updated"]))


def cdr_out(stored: dict[str, Any], location: dict[str, Any] | None) -> dict[str, Any]:
    """A stored 2.2.1 CDR as 2.1.1 sends it.

    The Location is `location` (the stored 2.2.1 Location) narrowed to the CDR's EVSE and
    connector when it still has them in a form 2.1.1 can express, else built from the CDR's own
    cdr_location. A connector 2.1.1 cannot express leaves the Location without EVSEs. Tariffs
    2.1.1 cannot express are left out. When no charging period keeps a 2.1.1 dimension, one
    period at the start holds the totals (ENERGY and TIME). NotIn211 for a credit CDR or an id
    longer than 36 characters."""
    if stored.get("credit"):
        raise NotIn211(f"CDR {stored['id']!r} is a credit CDR; OCPI 2.1.1 has none")
    if len(stored["id"]) > 36:
        raise NotIn211(f"CDR id {stored['id']!r} is longer than OCPI 2.1.1 allows (36)")
    tariffs = []
    for tariff in stored.get("tariffs") or []:
        try:
            tariffs.append(tariff_out(tariff))
        except NotIn211:
            continue
    periods = charging_periods_out(stored["charging_periods"]) or [
        {
            "start_date_time": stored["start_date_time"],
            "dimensions": [
                {"type": CdrDimensionType.ENERGY, "volume": stored["total_energy"]},
                {"type": CdrDimensionType.TIME, "volume": stored["total_time"]},
            ],
        }
    ]
    out = {
        "id": stored["id"],
        "start_date_time": stored["start_date_time"],
        "stop_date_time": stored["end_date_time"],
        "auth_id": stored["cdr_token"]["contract_id"],
        "auth_method": auth_method_out(stored["auth_method"]),
        "location": _location(stored, location),
        "meter_id": _fit(stored.get("meter_id"), 255),
        "currency": stored["currency"],
        "tariffs": tariffs or None,
        "charging_periods": periods,
        "total_cost": stored["total_cost"]["excl_vat"],
        "total_energy": stored["total_energy"],
        "total_time": stored["total_time"],
        "total_parking_time": stored.get("total_parking_time"),
        "remark": _fit(stored.get("remark"), 255),
        "last_updated": stored["last_updated"],
    }
    return CDR.model_validate(out).wire()


def _fit(value: str | None, n: int) -> str | None:
    return None if value is None else ascii_text(value, n)
