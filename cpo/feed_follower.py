"""A worker of the CPO side that follows the csms's event feed in a loop of its own and runs
what it decides in tasks (firmware campaigns, site power limits, the price shown to drivers):
the loop and its tasks start and stop as one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, ClassVar

from csms.events import Announcement, EventFeed
from csms.models import Event


class FeedFollower:
    loop_name: ClassVar[str]

    def __init__(self, feed: EventFeed) -> None:
        self.feed = feed
        self._queue: asyncio.Queue[Event | Announcement] | None = None
        self._loop: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._queue = self.feed.subscribe()
        self._loop = asyncio.create_task(self._run(), name=self.loop_name)

    async def stop(self) -> None:
        tasks = [t for t in (self._loop, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._queue is not None:
            self.feed.unsubscribe(self._queue)

    def spawn(self, work: Coroutine[Any, Any, None], name: str | None = None) -> None:
        """Runs `work` beside the loop; stop() cancels it."""
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self) -> None:
        raise NotImplementedError
