"""A tariff's price in words, for a charger's display: the operator's own words where the tariff
has them (tariff_alt_text, in the driver's language if given), else its first element's prices
as the tariff states them. No money is computed here: costs come from the tariff engine."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from cpo.locations.tables import LocationEvse
from cpo.sessions.from_transactions import tariff_in_force
from csms import clock

TEXT_MAX = 512  # a 2.0.1 MessageContentType's content
_UNITS = {"ENERGY": "/kWh", "TIME": "/h charging", "PARKING_TIME": "/h parking", "FLAT": ""}


def price_text(tariff: dict[str, Any], language: str | None) -> tuple[str, str | None]:
    """The text and its language (None: not known)."""
    alternatives = [t for t in tariff.get("tariff_alt_text") or [] if t.get("text")]
    chosen = next((t for t in alternatives if t.get("language") == language), None)
    chosen = chosen or (alternatives[0] if alternatives else None)
    if chosen is not None:
        return chosen["text"][:TEXT_MAX], chosen.get("language")
    currency = tariff.get("currency", "")
    elements = tariff.get("elements") or [{}]
    parts = []
    for component in elements[0].get("price_components") or []:
        part = f"{component['price']:.2f} {currency}{_UNITS.get(component['type'], '')}"
        if component.get("vat") is not None:
            part += f" + {component['vat']:g}% VAT"
        parts.append(part)
    return (", ".join(parts) or f"free ({currency})")[:TEXT_MAX], None


async def tariff_at(
    session: AsyncSession, station_id: str, evse_id: int | None
) -> dict[str, Any] | None:
    """The tariff a driver would charge by now at the charger's EVSE (any of its EVSEs at a
    Location when none is named: a 2.0.1 Authorize names none); None where none applies."""
    query = select(LocationEvse).where(col(LocationEvse.station_id) == station_id)
    if evse_id is not None:
        query = query.where(col(LocationEvse.ocpp_evse_id) == evse_id)
    for evse in (await session.execute(query.order_by(col(LocationEvse.ocpp_evse_id)))).scalars():
        for connector in evse.data.get("connectors") or []:
            if tariff := await tariff_in_force(session, connector, clock.now()):
                return tariff
    return None
