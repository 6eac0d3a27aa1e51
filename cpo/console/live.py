"""Live updates for open console pages: what changed, read from the database (the csms event
log from a cursor, the Sessions' last update), so that a page on any node sees the chargers of
every node; told to the browsers over Server-Sent Events, which then fetch what they show."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from cpo.sessions.tables import ChargingSession
from csms.events import EventFeed, EventType
from csms.models import Event

log = logging.getLogger("cpo.console")

# How often the database is asked when this node announced nothing: the longest a change on
# another node takes to show (this node's own changes wake it at once).
POLL = 1.0
BATCH = 5000  # events read at a time
HEARTBEAT = 15.0  # seconds between two comments on an idle stream (proxies keep it open)
STREAM_MAX = 600.0  # a stream ends after this long; the browser reconnects (and is re-checked)
QUEUE_MAX = 100  # changes waiting for a slow browser; past that they are merged

_SESSION_EVENTS = frozenset(
    {
        EventType.TRANSACTION_STARTED,
        EventType.TRANSACTION_UPDATED,
        EventType.TRANSACTION_ENDED,
        EventType.METER_VALUES_SAMPLED,
    }
)


@dataclass(frozen=True, slots=True)
class Change:
    stations: frozenset[str]  # stations whose state or transactions changed
    sessions: bool  # a transaction or an OCPI Session changed

    def __or__(self, other: Change) -> Change:
        return Change(self.stations | other.stations, self.sessions or other.sessions)

    def __bool__(self) -> bool:
        return bool(self.stations) or self.sessions

    def json(self) -> str:
        return orjson.dumps({"stations": sorted(self.stations), "sessions": self.sessions}).decode()


NOTHING = Change(frozenset(), False)


class Changes:
    """One follower of the database per process, whatever the number of open pages: it runs
    while a page listens, wakes at once for this node's own events and polls for the others'."""

    def __init__(
        self, database: async_sessionmaker[AsyncSession], feed: EventFeed, poll: float = POLL
    ) -> None:
        self.database = database
        self.feed = feed
        self.poll = poll
        self._listeners: set[asyncio.Queue[Change | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def listen(self) -> asyncio.Queue[Change | None]:
        """A queue of the changes from now on; None in it means the node is stopping. The
        follower starts from the database's state as it is when this returns."""
        queue: asyncio.Queue[Change | None] = asyncio.Queue()
        if self._closed:
            queue.put_nowait(None)
            return queue
        if self._task is None:
            cursor, mark = await self._marks()
            if self._task is None:  # no other page started it meanwhile
                self._task = asyncio.create_task(self._follow(cursor, mark), name="console-changes")
        self._listeners.add(queue)
        return queue

    def stop_listening(self, queue: asyncio.Queue[Change | None]) -> None:
        self._listeners.discard(queue)

    async def close(self) -> None:
        """Ends every stream (the server is stopping: it waits for open responses)."""
        self._closed = True
        for queue in self._listeners:
            queue.put_nowait(None)
        self._listeners.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self, cursor: int, mark: datetime | None) -> None:
        local = self.feed.subscribe()
        try:
            while True:
                if not self._listeners:
                    # Nothing awaits between this look and the reset: `listen` starts anew.
                    self._task = None
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(local.get(), self.poll)
                while not local.empty():
                    local.get_nowait()
                try:
                    change, cursor, mark = await self._read(cursor, mark)
                except Exception as e:  # the database away for a moment: try again later
                    log.warning("console: cannot read changes: %s", e)
                    await asyncio.sleep(self.poll)
                    continue
                if change:
                    self._publish(change)
        finally:
            self.feed.unsubscribe(local)

    def _publish(self, change: Change) -> None:
        for queue in self._listeners:
            if queue.qsize() >= QUEUE_MAX:  # a browser that does not keep up: merge
                merged = change
                while not queue.empty():
                    if (waiting := queue.get_nowait()) is not None:
                        merged = waiting | merged
                queue.put_nowait(merged)
            else:
                queue.put_nowait(change)

    async def _marks(self) -> tuple[int, datetime | None]:
        async with self.database() as session:
            cursor = await session.scalar(select(func.max(col(Event.id))))
            mark = await session.scalar(select(func.max(col(ChargingSession.last_updated))))
        return int(cursor or 0), mark

    async def _read(
        self, cursor: int, mark: datetime | None
    ) -> tuple[Change, int, datetime | None]:
        """What changed since the cursor and the mark, and the new ones. The event log is in
        commit order (csms.events.hold_event_order), so no event is passed over."""
        stations: set[str] = set()
        sessions = False
        async with self.database() as session:
            while True:
                rows = (
                    await session.execute(
                        select(Event.id, Event.station_id, Event.type)
                        .where(col(Event.id) > cursor)
                        .order_by(col(Event.id))
                        .limit(BATCH)
                    )
                ).all()
                for event_id, station_id, kind in rows:
                    stations.add(station_id)
                    sessions = sessions or kind in _SESSION_EVENTS
                    cursor = event_id
                if len(rows) < BATCH:
                    break
            # The projection (in the push worker, maybe on another node) prices Sessions
            # after their events: their own last update says when.
            newest = await session.scalar(select(func.max(col(ChargingSession.last_updated))))
        if newest != mark:
            sessions = True
        return Change(frozenset(stations), sessions), cursor, newest


class EventStream(StreamingResponse):
    """The answer that carries a page's stream; its queue stops listening when the answer
    ends, even one that ended before the stream began (the browser left at once)."""

    def __init__(
        self,
        changes: Changes,
        queue: asyncio.Queue[Change | None],
        still_allowed: Callable[[], Awaitable[bool]],
    ) -> None:
        super().__init__(
            stream(changes, queue, still_allowed),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        self._stop: Callable[[], None] = lambda: changes.stop_listening(queue)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._stop()


async def stream(
    changes: Changes,
    queue: asyncio.Queue[Change | None],
    still_allowed: Callable[[], Awaitable[bool]],
) -> AsyncIterator[bytes]:
    """The Server-Sent Events of one page, from a queue of `changes.listen()`: a `change`
    event for each change, a comment every HEARTBEAT seconds; it ends when the login no
    longer holds (`still_allowed`), after STREAM_MAX seconds (the browser reconnects) or when
    the node stops."""
    try:
        yield b"retry: 2000\n\n"
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_MAX
        while loop.time() < ends:
            try:
                change = await asyncio.wait_for(queue.get(), HEARTBEAT)
            except TimeoutError:
                if not await still_allowed():
                    return
                yield b": still here\n\n"
                continue
            if change is None:
                return
            while not queue.empty():
                more = queue.get_nowait()
                if more is None:
                    return
                change = change | more
            yield f"event: change\ndata: {change.json()}\n\n".encode()
    finally:
        changes.stop_listening(queue)
