"""OCPI 2.3.0 Tariff objects: what differs from 2.2.1 (v221.py).

2.3.0 says whether prices include taxes (`tax_included`, required) and bounds a session's price
with PriceLimit `{before_taxes, after_taxes}` instead of a Price. The platform's prices are
always without taxes (2.2.1's rule), so each Tariff goes out with `tax_included` NO: taxes are
added on top, at the rate each component's `vat` gives where it gives one."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import Field

from cpo.ocpi.models import Wire
from cpo.tariffs import v221

Amount = Annotated[float, Field(ge=0)]


class TaxIncluded(enum.StrEnum):
    YES = "YES"
    NO = "NO"
    NOT_APPLICABLE = "N/A"


class PriceLimit(Wire):
    before_taxes: Amount
    after_taxes: Amount | None = None


class Tariff(v221.Tariff):
    tax_included: TaxIncluded
    min_price: PriceLimit | None = None  # type: ignore[assignment]
    max_price: PriceLimit | None = None  # type: ignore[assignment]

    def _bounds_in_order(self) -> bool:
        return v221.in_order(self.min_price, self.max_price, "before_taxes", "after_taxes")


def price_limit(price: dict[str, Any]) -> dict[str, Any]:
    """A 2.2.1 Price bound as a 2.3.0 PriceLimit."""
    limit = {"before_taxes": price["excl_vat"]}
    if price.get("incl_vat") is not None:
        limit["after_taxes"] = price["incl_vat"]
    return limit


def tariff_out(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored (2.2.1) Tariff as a 2.3.0 one."""
    out = {k: v for k, v in stored.items() if k not in ("min_price", "max_price")}
    for bound in ("min_price", "max_price"):
        if stored.get(bound) is not None:
            out[bound] = price_limit(stored[bound])
    out["tax_included"] = TaxIncluded.NO.value
    return out
