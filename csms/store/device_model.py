"""The 2.0.1 device model a charger reports and answers (csms.device_model)."""

from __future__ import annotations

from typing import Any

from csms import device_model
from csms.device_model import DeviceVariable
from csms.events import EventType, record
from csms.store.base import StoreBase


class DeviceModel(StoreBase):
    """What a charger reports of its components and variables."""

    async def report(
        self, station_id: str, report_data: list[dict[str, Any]], **about: Any
    ) -> None:
        """A NotifyReport: its variables into the device model, and the event that it came."""
        data = self._within_budget(station_id, about | {"report_data": report_data})
        async with self._tx() as session:
            await device_model.reported(session, station_id, report_data)
            await record(session, station_id, EventType.REPORT_RECEIVED, **data)

    async def variables_answered(self, station_id: str, results: list[dict[str, Any]]) -> None:
        """The values a GetVariables or SetVariables answer says the charger now holds."""
        async with self._tx(events=False) as session:
            await device_model.answered(session, station_id, results)

    async def device_limit(self, station_id: str, variable: str, instance: str) -> int | None:
        async with self.reads() as session:
            return await device_model.limit(session, station_id, variable, instance)

    async def device_variables(
        self,
        station_id: str,
        component: str | None = None,
        variable: str | None = None,
        limit: int = 1000,
    ) -> list[DeviceVariable]:
        async with self.reads() as session:
            return await device_model.variables_of(session, station_id, component, variable, limit)
