"""OCPI 2.1.1 Tariff objects (mod_tariffs), and the converter from the stored 2.2.1 Tariff.

What 2.1.1 differs in: no country_code, party_id, type, min_price, max_price, start_date_time or
end_date_time; a PriceComponent has no `vat` (prices are excl. VAT) and step_size may be 0;
TariffRestrictions has no min_current, max_current or reservation. 2.1.1 picks the first element
whose restrictions match as a whole (2.2.1 picks per dimension), so element order is kept."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from cpo.locations.v211 import EnergyMix, energy_mix_out
from cpo.ocpi.models import URL, HourMinute, Wire
from cpo.ocpi.models_v211 import DateTime, DisplayText, NotIn211, display_texts_out, string
from cpo.tariffs.v221 import CalendarDate, Currency, DayOfWeek, TariffDimensionType

__all__ = ["PriceComponent", "Tariff", "TariffElement", "TariffRestrictions", "tariff_out"]

Amount = Annotated[float, Field(ge=0)]


class PriceComponent(Wire):
    type: TariffDimensionType
    price: Amount
    step_size: Annotated[int, Field(ge=0)]


class TariffRestrictions(Wire):
    start_time: HourMinute | None = None
    end_time: HourMinute | None = None
    start_date: CalendarDate | None = None
    end_date: CalendarDate | None = None
    min_kwh: Amount | None = None
    max_kwh: Amount | None = None
    min_power: Amount | None = None
    max_power: Amount | None = None
    min_duration: Annotated[int, Field(ge=0)] | None = None
    max_duration: Annotated[int, Field(ge=0)] | None = None
    day_of_week: list[DayOfWeek] | None = None


class TariffElement(Wire):
    price_components: Annotated[list[PriceComponent], Field(min_length=1)]
    restrictions: TariffRestrictions | None = None


class Tariff(Wire):
    id: Annotated[str, string(36, 1)]
    currency: Currency
    tariff_alt_text: list[DisplayText] | None = None
    tariff_alt_url: URL | None = None
    elements: Annotated[list[TariffElement], Field(min_length=1)]
    energy_mix: EnergyMix | None = None
    last_updated: DateTime


# Restrictions 2.1.1 does not know: an element with one of them would apply, for a 2.1.1 peer,
# where it must not (at any current, or to charging instead of a reservation).
_UNKNOWN_RESTRICTIONS = ("min_current", "max_current", "reservation")


def _element(stored: dict[str, Any]) -> dict[str, Any] | None:
    restrictions = stored.get("restrictions") or {}
    if any(key in restrictions for key in _UNKNOWN_RESTRICTIONS):
        return None
    out: dict[str, Any] = {
        "price_components": [
            {k: v for k, v in c.items() if k != "vat"} for c in stored["price_components"]
        ]
    }
    if "restrictions" in stored:
        out["restrictions"] = restrictions
    return out


def tariff_out(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored 2.2.1 Tariff as 2.1.1 sends it: elements restricted by current or reservation
    left out (the others in their order), VAT percentages and price bounds dropped. NotIn211 when
    no element is left."""
    elements = [e for e in map(_element, stored["elements"]) if e is not None]
    if not elements:
        raise NotIn211(f"tariff {stored['id']!r} has no element OCPI 2.1.1 can express")
    out = {
        "id": stored["id"],
        "currency": stored["currency"],
        "tariff_alt_text": display_texts_out(stored.get("tariff_alt_text")),
        "tariff_alt_url": stored.get("tariff_alt_url"),
        "elements": elements,
        "last_updated": stored["last_updated"],
    }
    if "energy_mix" in stored:
        out["energy_mix"] = energy_mix_out(stored["energy_mix"])
    return Tariff.model_validate(out).wire()
