"""OCPI 2.3.0 CDR objects: what differs from 2.2.1 (v221.py), and the 2.3.0 Price that Sessions
share with them.

2.3.0 states an amount as `before_taxes` and the taxes due on it (`taxes`, each with its own
amount) instead of `excl_vat`/`incl_vat`, and embeds 2.3.0 Tariffs. The platform computes a
price once, by the 2.2.1 rules (ADR 024), and states it here as `before_taxes` = its amount
without VAT plus one tax named VAT of the difference to its amount with VAT."""

from __future__ import annotations

from typing import Annotated, Any

from cpo.cdrs import v221
from cpo.cdrs.objects import COSTS
from cpo.ocpi.models import Wire, string
from cpo.tariffs import v230 as tariffs_v230


class TaxAmount(Wire):
    name: Annotated[str, string(255, 1)]
    account_number: Annotated[str, string(255)] | None = None
    percentage: float | None = None
    amount: float


class Cost(Wire):
    """A Price as a CDR or Session carries it: negative in a credit CDR."""

    before_taxes: float
    taxes: list[TaxAmount] | None = None


class CDR(v221.CDR):
    tariffs: list[tariffs_v230.Tariff] | None = None  # type: ignore[assignment]
    total_cost: Cost  # type: ignore[assignment]
    total_fixed_cost: Cost | None = None  # type: ignore[assignment]
    total_energy_cost: Cost | None = None  # type: ignore[assignment]
    total_time_cost: Cost | None = None  # type: ignore[assignment]
    total_parking_cost: Cost | None = None  # type: ignore[assignment]
    total_reservation_cost: Cost | None = None  # type: ignore[assignment]


def cost_out(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored (2.2.1) Price as a 2.3.0 one."""
    cost: dict[str, Any] = {"before_taxes": stored["excl_vat"]}
    if stored.get("incl_vat") is not None:
        vat = round(stored["incl_vat"] - stored["excl_vat"], 4)
        cost["taxes"] = [{"name": "VAT", "amount": vat}]
    return cost


def costs_out(stored: dict[str, Any]) -> dict[str, Any]:
    """A Session or CDR (or a PATCH of one) with each of its amounts as a 2.3.0 Price."""
    return stored | {k: cost_out(stored[k]) for k in COSTS if stored.get(k) is not None}


def cdr_out(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored (2.2.1) CDR as a 2.3.0 one."""
    out = costs_out(stored)
    if stored.get("tariffs"):
        out["tariffs"] = [tariffs_v230.tariff_out(t) for t in stored["tariffs"]]
    return out
