"""The state every part of the store shares, one database transaction with its events, and each charger's data budget."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms import metrics
from csms.budget import MinuteBudget, cut_fields, json_size
from csms.events import EVENTS_KEY, EventFeed, hold_event_order
from csms.metering import Sample
from csms.presence import Changes, Lookups
from csms.store.samples import MeterValuesBatch, clipped
from csms.writer import Writer

# What one charger may add to the event log and the meter samples (its message log has a budget
# of its own). Past the budget, a charger's state changes are still applied and logged, but
# what it says beside them (DataTransfer data, reports, meter samples other than the billing
# register) is cut: a charger that floods cannot fill the disk.
DATA_BYTES_PER_MINUTE = 8 * 1024 * 1024
EVENT_DATA_FLOOR = 1024  # bytes kept of an event's data past the budget
CONNECTOR_ROW_BYTES = 256  # a connector's row, or a status report's event


class StoreBase:
    """What every part of the store shares: the databases, the group writer, the event feed,
    the chargers' data budget, and the one-transaction-with-its-events every write goes through."""

    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        data_bytes_per_minute: int = DATA_BYTES_PER_MINUTE,
        reads: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        """`reads`: sessions for what only reads what has committed (csms.db.make_reader)."""
        self.database = database
        self.reads = reads or database
        self.budget = MinuteBudget(data_bytes_per_minute)
        self.feed = EventFeed()
        # The hot path's writes (meter values, transaction updates) commit in groups.
        self.writer = Writer(database, self.feed.publish)
        self._meter_values = MeterValuesBatch()
        # Chargers connecting, booting and going: grouped too (a reconnect storm is thousands).
        self._lookups = Lookups()
        self._changes = Changes()
        self._seen: dict[str, datetime] = {}

    @contextlib.asynccontextmanager
    async def _tx(self, events: bool = True) -> AsyncIterator[AsyncSession]:
        """One database transaction; the events it recorded are announced once it has committed.
        One that may record events holds the event log's order from its start (before any row
        lock: csms.events.hold_event_order)."""
        async with self.database.begin() as session:
            if events:
                await hold_event_order(await session.connection())
            yield session
            recorded = list(session.info.pop(EVENTS_KEY, []))
        self.feed.publish(recorded)

    def _within_budget(self, station_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """An event's data, its largest parts cut past the charger's budget."""
        if self.budget.spend(station_id, json_size(data)):
            return data
        metrics.stored_cut("events", "budget").inc()
        return cut_fields(data, EVENT_DATA_FLOOR)

    def _samples_within_budget(self, station_id: str, samples: list[Sample]) -> list[Sample]:
        """A message's samples; past the charger's budget, only its first and last billing
        register readings (what the transaction's energy is computed from)."""
        if not samples:
            return samples
        samples, size = clipped(samples)
        if self.budget.spend(station_id, size):
            return samples
        registers = sorted((s for s in samples if s.is_energy_register), key=lambda s: s.timestamp)
        ends = {id(s): s for s in registers[:1] + registers[-1:]}
        kept = [replace(s, signed_data=None) for s in ends.values()]
        metrics.stored_cut("meter_samples", "budget").inc(len(samples) - len(kept))
        return kept
