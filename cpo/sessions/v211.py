"""OCPI 2.1.1 Session objects (mod_sessions), and the converter from the stored 2.2.1 Session.

What 2.1.1 differs in: no country_code, party_id, authorization_reference or tariff_id in
charging periods; the times are `start_datetime` and `end_datetime`; the token is referenced by
`auth_id` (2.2.1 cdr_token.contract_id); the place is a whole Location holding only the EVSE and
connector in use (2.2.1 location_id, evse_uid, connector_id); `total_cost` is a number excl.
VAT; SessionStatus has no RESERVATION."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from cpo.cdrs.v211 import AuthMethod, ChargingPeriod, auth_method_out, charging_periods_out
from cpo.locations.v211 import Location, location_out, narrowed
from cpo.ocpi.models import Wire
from cpo.ocpi.models_v211 import DateTime, ascii_text, string
from cpo.tariffs.v221 import Currency

__all__ = ["Session", "SessionStatus", "session_out"]


class SessionStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    INVALID = "INVALID"
    PENDING = "PENDING"


class Session(Wire):
    id: Annotated[str, string(36, 1)]
    start_datetime: DateTime
    end_datetime: DateTime | None = None
    kwh: float
    auth_id: Annotated[str, string(36, 1)]
    auth_method: AuthMethod
    location: Location
    meter_id: Annotated[str, string(255)] | None = None
    currency: Currency
    charging_periods: list[ChargingPeriod] | None = None
    total_cost: float | None = None
    status: SessionStatus
    last_updated: DateTime


def _status_out(stored: str) -> str:
    # A reservation not yet turned into charging: "pending" is what 2.1.1 has for not started.
    return SessionStatus.PENDING if stored == "RESERVATION" else stored


def session_out(stored: dict[str, Any], location: dict[str, Any]) -> dict[str, Any]:
    """A stored 2.2.1 Session as 2.1.1 sends it, at `location` (the stored 2.2.1 Location the
    session is at) narrowed to the session's EVSE and connector. When the Location no longer has
    them, or 2.1.1 cannot express that connector, the Location goes without EVSEs."""
    at = narrowed(location, stored["evse_uid"], stored["connector_id"])
    place = location_out(at) if at is not None else location_out(location | {"evses": []})
    total_cost = stored.get("total_cost")
    out = {
        "id": stored["id"],
        "start_datetime": stored["start_date_time"],
        "end_datetime": stored.get("end_date_time"),
        "kwh": stored["kwh"],
        "auth_id": stored["cdr_token"]["contract_id"],
        "auth_method": auth_method_out(stored["auth_method"]),
        "location": place,
        "meter_id": ascii_text(stored["meter_id"], 255) if "meter_id" in stored else None,
        "currency": stored["currency"],
        "charging_periods": charging_periods_out(stored.get("charging_periods")) or None,
        "total_cost": total_cost["excl_vat"] if total_cost is not None else None,
        "status": _status_out(stored["status"]),
        "last_updated": stored["last_updated"],
    }
    return Session.model_validate(out).wire()
