"""CDR objects: built once from a sealed session, never changed; corrected by credit CDRs."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cpo.locations.tables import Location, LocationEvse
from cpo.ocpi.headers import PartyRef
from cpo.ocpi.responses import timestamp
from cpo.sessions.usage import SampleRow
from cpo.tariffs.engine import Priced
from csms.metering import ENERGY_REGISTER

# Dimensions a Session may carry but a CDR may not.
SESSION_ONLY = {"CURRENT", "ENERGY_EXPORT", "ENERGY_IMPORT", "POWER", "STATE_OF_CHARGE"}
COSTS = (
    "total_cost",
    "total_fixed_cost",
    "total_energy_cost",
    "total_time_cost",
    "total_parking_cost",
    "total_reservation_cost",
)
NATURE = {"Transaction.Begin": "Start", "Transaction.End": "End"}


def cdr_location(
    location: Location, evse: LocationEvse, connector: dict[str, Any]
) -> dict[str, Any]:
    """The CdrLocation: where the charge happened, as it was then (its own, shorter limits)."""
    data = location.data
    snapshot: dict[str, Any] = {
        "id": location.ocpi_id,
        "address": str(data["address"])[:45],
        "city": data["city"],
        "country": data["country"],
        "coordinates": data["coordinates"],
        "evse_uid": evse.uid,
        "evse_id": evse.data.get("evse_id") or evse.uid,
        "connector_id": connector["id"],
        "connector_standard": connector["standard"],
        "connector_format": connector["format"],
        "connector_power_type": connector["power_type"],
    }
    for name, limit in (("name", 255), ("postal_code", 10), ("state", 20)):
        if data.get(name):
            snapshot[name] = str(data[name])[:limit]
    return snapshot


def cdr_object(
    own: PartyRef,
    *,
    cdr_id: str,
    session_id: str,
    session: dict[str, Any],
    location: dict[str, Any],
    tariff: dict[str, Any] | None,
    priced: Priced,
    start: datetime,
    end: datetime,
    signed: dict[str, Any] | None,
    remark: str | None,
    last_updated: datetime,
) -> dict[str, Any]:
    fields = priced.to_cdr_fields()
    periods = [
        {k: v for k, v in p.items() if not (k == "tariff_id" and tariff is None)}
        | {"dimensions": [d for d in p["dimensions"] if d["type"] not in SESSION_ONLY]}
        for p in fields.pop("charging_periods")
    ]
    if not periods:  # a session of no time at all still has one period
        periods = [
            {
                "start_date_time": timestamp(start),
                "dimensions": [{"type": "ENERGY", "volume": fields["total_energy"]}],
            }
        ]
    cdr: dict[str, Any] = {
        "country_code": own.country_code,
        "party_id": own.party_id,
        "id": cdr_id,
        "start_date_time": timestamp(start),
        "end_date_time": timestamp(end),
        "session_id": session_id,
        "cdr_token": session["cdr_token"],
        "auth_method": session["auth_method"],
        "cdr_location": location,
        "currency": session["currency"],
        "tariffs": [tariff] if tariff else [],
        "charging_periods": periods,
        **fields,
        "last_updated": timestamp(last_updated),
    }
    for name in ("authorization_reference", "meter_id"):
        if session.get(name):
            cdr[name] = session[name]
    if signed:
        cdr["signed_data"] = signed
    if remark:
        cdr["remark"] = remark
    return cdr


def credit_of(original: dict[str, Any], cdr_id: str, now: datetime) -> dict[str, Any]:
    """The same data with every amount negated, naming the CDR it cancels."""
    credit = dict(original) | {
        "id": cdr_id,
        "credit": True,
        "credit_reference_id": original["id"],
        "last_updated": timestamp(now),
    }
    for name in COSTS:
        if (amount := original.get(name)) is not None:
            credit[name] = {k: -v if v else 0.0 for k, v in amount.items()}
    return credit


def signed_data(samples: Sequence[SampleRow]) -> dict[str, Any] | None:
    """The charger's signed meter values, for the driver to check (Eichrecht)."""
    signed = [s for s in samples if s.signed_data]
    if not signed:
        return None
    registers = {
        s.timestamp: s.value
        for s in samples
        if s.measurand == ENERGY_REGISTER and s.value is not None and s.phase is None
    }
    values = []
    for s in signed:
        assert s.signed_data is not None
        reading = registers.get(s.timestamp)
        plain = f"{s.measurand} {timestamp(s.timestamp)}"
        if reading is not None:
            plain += f" {reading:g} Wh"
        values.append(
            {
                "nature": NATURE.get(s.context or "", "Intermediate"),
                "plain_data": plain,
                "signed_data": s.signed_data[:5000],
            }
        )
    return {"encoding_method": _encoding(signed[0].signed_data or ""), "signed_values": values}


def _encoding(data: str) -> str:
    """OCMF announces itself; anything else is named as the charger's own format."""
    text = data
    try:
        text = base64.b64decode(data, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        pass
    return "OCMF" if text.startswith("OCMF|") else "Other"
