"""The cost port: what a transaction costs, for the chargers that show it to the driver (2.0.1
TransactionEventResponse.totalCost), answered by whoever the platform plugs in (the CPO side's
tariff engine); the csms itself knows no prices."""

from __future__ import annotations

from typing import Protocol


class TransactionCosts(Protocol):
    async def final_cost(self, station_id: str, ocpp_transaction_id: str) -> float | None:
        """The ended transaction's total cost with taxes; None where no tariff applies."""
        ...


class NoCosts:
    """A csms without prices: no cost is ever told."""

    async def final_cost(self, station_id: str, ocpp_transaction_id: str) -> float | None:
        return None


NO_COSTS = NoCosts()
