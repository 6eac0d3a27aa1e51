"""The projection: reads the csms event log from a stored cursor and keeps EVSE statuses,
Sessions and CDRs current.

The cursor moves in the same transaction as the statuses and outbox rows it causes, so a crash
replays at most a batch whose effects were not committed.

A Session is rebuilt whole, from all its meter samples (cpo.sessions.from_transactions), so rebuilding
it on every meter value would cost a charge's whole history per message. A transaction that
starts, ends or changes hands is rebuilt in the step that reads it; one that only got new
readings is rebuilt then too unless it was rebuilt less than `rebuild_every` ago, in which case
its rebuild waits until then (readings that arrive meanwhile join it). Those waiting rebuilds
live in memory only: after a restart, every open transaction's Session is rebuilt once. News of
nothing but readings lets the next step wait a little for more (READINGS_GATHER, ADR 040).

On several nodes exactly one projection steps at a time: the one holding the lease
"projection" (cpo.leases, ADR 017). Each step renews the lease in its own transaction, so a
projection that lost it (it stalled past the lease's expiry and a standby took over) commits
nothing and becomes a standby itself. A standby tries to take the lease every second; the
holder hands it over when it stops, or it expires `CPO_PROJECTION_LEASE_SECONDS` after the
holder's last step when the holder dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, cast

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo import leases
from cpo.locations.store import Locations
from cpo.sessions.from_transactions import ChargingSessions
from csms.events import Announcement, EventFeed, EventType, only_readings
from csms.models import Event, Meta, Transaction, TransactionStatus
from csms.tasks import finish, pause

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
REBUILD_EVERY = 5.0  # seconds: the longest a live Session's data lags its readings under load
DEFERRED_PER_STEP = 25  # waiting rebuilds done in one step, so a step stays short
# Steps start at least this far apart: under load a step takes every event that came in
# meanwhile (one transaction for many) instead of one each; at rest an event waits for none.
GATHER = 0.02  # seconds
# ... and this far apart while nothing but readings was announced: their Sessions' rebuilds
# wait anyway (REBUILD_EVERY), and on SQLite each step holds off the chargers' group commit
# (under meter-values load, some 40 steps a second held the write lock 2.6 s of a 15 s run;
# ADR 040). Any other event ends the wait at GATHER.
READINGS_GATHER = 0.25  # seconds
BATCH = 2000  # events a step reads at most (~1 MB); a full one is followed by the next at once
LEASE = "projection"  # the name of the lease that lets one projection of the cluster step
STANDBY_RETRY = 1.0  # seconds between a standby's tries to take the lease
_EVENT_COLUMNS = select(col(Event.id), col(Event.station_id), col(Event.type), col(Event.data))


def holder_name(node: str, process: str | None = None) -> str:
    """Who holds the projection's lease: the node (CPO_NODE_NAME), and the push worker's
    process when one runs the projection (a restarted worker is another holder)."""
    return f"{node}/{process}" if process else node


class Projection:
    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        locations: Locations,
        charging: ChargingSessions,
        feed: EventFeed | None,
        lease: leases.Holding,
        batch: int = BATCH,
        poll: float = 1.0,
        gather: float = GATHER,
        readings_gather: float = READINGS_GATHER,
        readers: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        """`readers`: sessions on connections that only read; given them, the Sessions whose
        rebuilds were waiting are built before the write transaction (SQLite: ADR 035)."""
        self.database = database
        self.readers = readers
        self.locations = locations
        self.charging = charging
        self.feed = feed
        self.lease = lease
        self.batch = batch
        self.poll = poll
        self.gather = gather
        self.readings_gather = max(gather, readings_gather)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._one_step = asyncio.Lock()
        # transaction id -> when (time.monotonic) its Session's waiting rebuild is due, and
        # when it was last rebuilt (kept for `rebuild_every`, then forgotten).
        self._waiting: dict[int, float] = {}
        self._rebuilt: dict[int, float] = {}
        self._pruned = 0.0
        self._restarted = True

    @property
    def rebuild_every(self) -> float:
        return min(REBUILD_EVERY, self.charging.rules.update_every)

    async def step(self) -> int:
        """Applies the next batch of events, then makes the CDRs that are due (those of
        sessions this batch ended, and those that waited); returns how many events were read.
        Reads none (and commits nothing) while another projection holds the lease."""
        async with self._one_step:  # the loop's and a caller's (tests, tools) take turns
            if not self.lease.held and not await self._take_over():
                return 0
            try:
                return await self._step()
            except leases.Lost:
                log.warning("projection: another process took the lease; standing by")
                self._forget()
                return 0

    async def _take_over(self) -> bool:
        """Takes the lease if it is free; what the previous holder's memory held (readings
        waiting for their Session's rebuild, when CDRs fall due) is read again from the
        database, as after a restart."""
        if not await self.lease.acquire():
            return False
        self._forget()
        return True

    def _forget(self) -> None:
        self._waiting.clear()
        self._rebuilt.clear()
        self._restarted = True
        self.charging.look_again()

    async def _step(self) -> int:
        read_ahead: tuple[int, list[Any]] | None = None
        due_ahead: set[int] | None = None
        if self.readers is not None:
            async with self.readers() as reading:
                # One read transaction: the events and the Sessions as of one state of the
                # database, read before the write lock (ADR 035).
                await reading.execute(text("BEGIN"))
                cursor = await self._cursor(reading)
                read_ahead = cursor, await self._events(reading, cursor)
                # The Sessions due now are the ones this step rebuilds: one that falls due
                # while this is read waits for the next step, and is built ahead then.
                if due_ahead := self._due(time.monotonic()):
                    await self.charging.build_ahead(reading, due_ahead)
        async with self.database.begin() as session:
            # First, so that on PostgreSQL the row's lock holds off a takeover until this commits.
            await self.lease.renew(session)
            if self._restarted:
                await self._wait_for_open(session)
            meta = await session.get(Meta, CURSOR)
            cursor = int(meta.value) if meta else 0
            if read_ahead is not None and read_ahead[0] == cursor:
                # SQLite commits events in id order, one writer at a time: what a snapshot
                # after the cursor shows is a prefix of what a later one shows.
                events = read_ahead[1]
            else:
                events = await self._events(session, cursor)
            changed = False
            now = time.monotonic()
            transactions: set[int] = set()
            if events:
                stations = {e.station_id for e in events if e.type in STATUS_EVENTS}
                changed = bool(await self.locations.refresh_stations(session, stations))
                readings: set[int] = set()
                for e in events:
                    if e.type in TRANSACTION_EVENTS and e.data.get("transaction_id"):
                        tx_id = int(e.data["transaction_id"])
                        (readings if only_readings(e.type, e.data) else transactions).add(tx_id)
                for tx_id in readings - transactions:
                    self._wait(tx_id, now)
            transactions |= self._due(now) if due_ahead is None else due_ahead
            if transactions:
                changed |= await self.charging.refresh(session, transactions)
            if events:
                last = str(events[-1].id)
                if meta is None:
                    session.add(Meta(key=CURSOR, value=last))
                else:
                    meta.value = last
            changed |= await self.charging.settle(session)
        for tx_id in transactions:  # rebuilt and committed
            self._waiting.pop(tx_id, None)
            self._rebuilt[tx_id] = now
        if transactions:
            for tx_id in self.charging.stale:  # built from readings older than the latest
                self._wait(tx_id, now)
        if changed:
            self.locations.outbox.wake()
        return len(events)

    @staticmethod
    async def _cursor(session: AsyncSession) -> int:
        meta = await session.get(Meta, CURSOR)
        return int(meta.value) if meta else 0

    async def _events(self, session: AsyncSession, cursor: int) -> list[Any]:
        return list(
            (
                await session.execute(
                    _EVENT_COLUMNS.where(col(Event.id) > cursor)
                    .order_by(col(Event.id))
                    .limit(self.batch)
                )
            ).all()
        )

    async def _wait_for_open(self, session: AsyncSession) -> None:
        """After a start, the Session of every open transaction is due a rebuild: one whose
        readings waited when the platform stopped would otherwise wait for its next reading."""
        rows = await session.execute(
            select(col(Transaction.id)).where(col(Transaction.status) == TransactionStatus.ACTIVE)
        )
        for (tx_id,) in rows:
            self._waiting.setdefault(cast(int, tx_id), 0.0)
        self._restarted = False

    def _wait(self, tx_id: int, now: float) -> None:
        """New readings: rebuild now unless rebuilt within `rebuild_every`, else once it is up."""
        if tx_id not in self._waiting:
            last = self._rebuilt.get(tx_id)
            self._waiting[tx_id] = now if last is None else last + self.rebuild_every
        if now - self._pruned > self.rebuild_every:
            self._pruned = now
            horizon = now - self.rebuild_every
            self._rebuilt = {k: at for k, at in self._rebuilt.items() if at > horizon}

    def _due(self, now: float) -> set[int]:
        due: set[int] = set()
        for tx_id, at in self._waiting.items():
            if at <= now:
                due.add(tx_id)
                if len(due) >= DEFERRED_PER_STEP:
                    break
        return due

    def _backlog(self) -> bool:
        """Whether a step's worth of waiting rebuilds is due."""
        return len(self._due(time.monotonic())) >= DEFERRED_PER_STEP

    def _next_due(self) -> float | None:
        """Seconds until the next waiting rebuild is due (0 if one is), None if none waits."""
        if not self._waiting:
            return None
        return max(0.0, min(self._waiting.values()) - time.monotonic())

    async def _run(self) -> None:
        queue = self.feed.subscribe() if self.feed else None
        try:
            while not self._stopping.is_set():
                try:
                    started = time.monotonic()
                    # On at once while events or due rebuilds fill a step; what is left waits
                    # for the next (`_gather`).
                    while await self.step() == self.batch or self._backlog():
                        pass
                except Exception:
                    log.exception("projection: step failed; retrying")
                    await asyncio.sleep(1.0)
                    continue
                if not self.lease.held:  # a standby: another process projects
                    await pause(self._stopping, STANDBY_RETRY)
                    while queue is not None and not queue.empty():
                        queue.get_nowait()  # the holder has seen them
                    continue
                due = self._next_due()
                # An idle holder steps often enough to renew its lease well before it expires.
                wait = min(self.poll, self.lease.ttl / 3)
                wait = wait if due is None else min(wait, due)
                if queue is None:
                    await pause(self._stopping, wait)
                    continue
                announced = None
                with contextlib.suppress(TimeoutError):
                    announced = await asyncio.wait_for(self._next(queue), wait)
                await self._gather(queue, started, announced)
        finally:
            if queue is not None and self.feed:
                self.feed.unsubscribe(queue)

    async def _gather(
        self,
        queue: asyncio.Queue[Event | Announcement],
        started: float,
        announced: Event | Announcement | None,
    ) -> None:
        """Waits until the next step is due: `gather` after the last one `started`, or
        `readings_gather` after it while nothing but readings was announced since (`announced`
        None: the wait ran out, for a waiting rebuild or the lease, which can wait as long).
        Takes the announcements off the queue: one step serves them all."""
        lazy = announced is None or only_readings(announced.type, announced.data)
        while True:
            while not queue.empty():
                item = queue.get_nowait()
                lazy = lazy and only_readings(item.type, item.data)
            rest = started + (self.readings_gather if lazy else self.gather) - time.monotonic()
            if rest <= 0 or self._stopping.is_set():
                return
            if not lazy:
                await pause(self._stopping, rest)
                continue
            with contextlib.suppress(TimeoutError):
                came = await asyncio.wait_for(self._next(queue), rest)
                lazy = came is not None and only_readings(came.type, came.data)

    async def _next(
        self, queue: asyncio.Queue[Event | Announcement]
    ) -> Event | Announcement | None:
        """The next announced event; None when asked to stop first."""
        getting = asyncio.ensure_future(queue.get())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([getting, stopping], return_when=asyncio.FIRST_COMPLETED)
            return getting.result() if getting.done() and not getting.cancelled() else None
        finally:
            getting.cancel()
            stopping.cancel()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="projection")

    async def stop(self, grace: float = 5.0) -> None:
        """Lets a step in progress commit (or not) whole, then ends and hands the lease over
        (a standby takes it at once instead of when it expires)."""
        self._stopping.set()
        if self._task is not None and not self._task.done():
            await finish(self._task, grace)
        try:
            await self.lease.release()
        except Exception:  # it expires instead
            log.exception("projection: cannot release the lease")
