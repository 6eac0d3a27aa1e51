"""MeterValues, linked to their transaction and written in groups (csms.store.samples)."""

from __future__ import annotations

from csms.metering import Sample
from csms.store.base import StoreBase
from csms.store.samples import MeterValuesWrite


class MeterValues(StoreBase):
    """A charger's MeterValues messages."""

    async def meter_values(
        self,
        station_id: str,
        evse_id: int,
        transaction_id: int | None,
        samples: list[Sample],
        ocpp_transaction_id: str | None = None,
    ) -> None:
        """MeterValues; linked to the transaction named, else the one open on that EVSE.
        Committed (with the event) when this returns, in a group with others' (csms.writer)."""
        samples = self._samples_within_budget(station_id, samples)
        await self.writer.write(
            self._meter_values,
            MeterValuesWrite(station_id, evse_id, transaction_id, samples, ocpp_transaction_id),
        )
