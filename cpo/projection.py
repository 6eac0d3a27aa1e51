"""The projection: reads the csms event log from a stored cursor and keeps EVSE statuses,
Sessions and CDRs current.

The cursor moves in the same transaction as the statuses and outbox rows it causes, so a crash
replays at most a batch whose effects were not committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.charging_sessions import ChargingSessions
from cpo.sites import Sites
from csms.events import EventFeed, EventType
from csms.models import Event, Meta

log = logging.getLogger("cpo.projection")

CURSOR = "cpo.projection.cursor"
STATUS_EVENTS = {
    EventType.STATION_CONNECTED,
    EventType.STATION_DISCONNECTED,
    EventType.STATION_BOOTED,
    EventType.CONNECTOR_STATUS_CHANGED,
    EventType.STATION_STATUS_CHANGED,
    EventType.AVAILABILITY_CHANGED,
    EventType.RESERVATION_STATUS,
    EventType.TRANSACTION_STARTED,
    EventType.TRANSACTION_ENDED,
}
TRANSACTION_EVENTS = {
    EventType.TRANSACTION_STARTED,
    EventType.TRANSACTION_UPDATED,
    EventType.TRANSACTION_ENDED,
    EventType.METER_VALUES_SAMPLED,
}


class Projection:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sites: Sites,
        charging: ChargingSessions,
        feed: EventFeed | None,
        batch: int = 500,
        poll: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.sites = sites
        self.charging = charging
        self.feed = feed
        self.batch = batch
        self.poll = poll
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def step(self) -> int:
        """Applies the next batch of events, then makes the CDRs that are due (those of
        sessions this batch ended, and those that waited); returns how many events were read."""
        async with self.sessions.begin() as session:
            meta = await session.get(Meta, CURSOR)
            cursor = int(meta.value) if meta else 0
            events = list(
                (
                    await session.execute(
                        select(Event)
                        .where(col(Event.id) > cursor)
                        .order_by(col(Event.id))
                        .limit(self.batch)
                    )
                ).scalars()
            )
            changed = False
            if events:
                stations = {e.station_id for e in events if e.type in STATUS_EVENTS}
                changed = bool(await self.sites.refresh_stations(session, stations))
                transactions = {
                    int(e.data["transaction_id"])
                    for e in events
                    if e.type in TRANSACTION_EVENTS and e.data.get("transaction_id")
                }
                changed |= await self.charging.refresh(session, transactions)
                last = str(events[-1].id)
                if meta is None:
                    session.add(Meta(key=CURSOR, value=last))
                else:
                    meta.value = last
            changed |= await self.charging.settle(session)
        if changed:
            self.sites.outbox.wake()
        return len(events)

    async def _run(self) -> None:
        queue = self.feed.subscribe() if self.feed else None
        try:
            while not self._stopping.is_set():
                try:
                    while await self.step() == self.batch:
                        pass
                except Exception:
                    log.exception("projection: step failed; retrying")
                    await asyncio.sleep(1.0)
                    continue
                if queue is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), self.poll)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._next(queue), self.poll)
                while not queue.empty():  # one step serves every announcement so far
                    queue.get_nowait()
        finally:
            if queue is not None and self.feed:
                self.feed.unsubscribe(queue)

    async def _next(self, queue: asyncio.Queue[Event]) -> None:
        """Returns on the next announced event, or when asked to stop."""
        getting = asyncio.ensure_future(queue.get())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([getting, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            getting.cancel()
            stopping.cancel()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="projection")

    async def stop(self, grace: float = 5.0) -> None:
        """Lets a step in progress commit (or not) whole, then ends."""
        self._stopping.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
