"""Wake-ups between nodes: events committed and outbox rows marked on one node wake the
projection and the deliverers of the others through Redis pub/sub (ADR 018), as the server
wakes its own push worker through a pipe (ADR 012).

A wake says only "look now"; the database is the truth. A wake lost costs the poll interval,
and many wakes in a row are sent as one (one PUBLISH while the previous one is under way).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as redis
from redis.exceptions import RedisError

from cpo.push.outbox import Outbox
from cpo.push.worker import PushWorker
from csms.cluster import EVENTS, OUTBOX, WAKES, Cluster
from csms.events import Announcement, EventFeed

log = logging.getLogger("cpo.wakes")

WAKE = Announcement(station_id="", type="", data={})  # "look at the log", not an event


class WakePublisher:
    """Says EVENTS or OUTBOX to every node, coalescing what comes while it publishes."""

    def __init__(self, client: redis.Redis, node: str) -> None:
        self._redis = client
        self._node = node
        self._due: dict[str, asyncio.Event] = {EVENTS: asyncio.Event(), OUTBOX: asyncio.Event()}
        self._tasks = [
            asyncio.create_task(self._publish(what), name=f"wakes-{what}") for what in self._due
        ]

    def say(self, what: str) -> None:
        self._due[what].set()

    async def _publish(self, what: str) -> None:
        due = self._due[what]
        while True:
            await due.wait()
            due.clear()
            try:
                await self._redis.publish(WAKES, f"{what}:{self._node}")
            except (RedisError, OSError) as e:  # the others poll meanwhile
                log.warning("cannot wake the other nodes: %s", e)
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class NodeWakes:
    """The server's side: its own commits and outbox rows go out to the other nodes, and the
    others' wake its projection and deliverer (in its push worker, or in its own process)."""

    def __init__(
        self,
        cluster: Cluster,
        events: EventFeed,
        outbox: Outbox,
        worker: PushWorker | None,
        projection_feed: EventFeed | None,
    ) -> None:
        self.cluster = cluster
        self.events = events
        self.outbox = outbox
        self.worker = worker
        self.projection_feed = projection_feed
        self.publisher: WakePublisher | None = None
        self._follower: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.publisher = WakePublisher(self.cluster.redis, self.cluster.node)
        local = self.outbox.forward

        def outbox_rows() -> None:
            if local is not None:
                local()  # this node's push worker
            assert self.publisher is not None
            self.publisher.say(OUTBOX)

        self.outbox.forward = outbox_rows
        self.cluster.on_wake(self._woken)
        self._follower = asyncio.create_task(self._follow(), name="wakes-events")

    async def _follow(self) -> None:
        queue = self.events.subscribe()
        try:
            while True:
                await queue.get()
                while not queue.empty():  # one wake for all announced so far
                    queue.get_nowait()
                if self.projection_feed is not None:
                    self.projection_feed.publish([WAKE])
                assert self.publisher is not None
                self.publisher.say(EVENTS)
        finally:
            self.events.unsubscribe(queue)

    def _woken(self, what: str) -> None:
        """Another node said so: wake ours, without saying it again to the others."""
        if what == EVENTS:
            if self.worker is not None:
                self.worker.wake_events()
            if self.projection_feed is not None:
                self.projection_feed.publish([WAKE])
        elif what == OUTBOX:
            self.outbox.changed.set()
            if self.worker is not None:
                self.worker.wake_outbox()

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        if self.publisher is not None:
            await self.publisher.close()
