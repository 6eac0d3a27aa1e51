"""Ending background tasks between transactions, not inside one."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Waits `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))


async def finish(task: asyncio.Task[Any], grace: float = 5.0) -> None:
    """Lets `task` end on its own (it was told to stop) for up to `grace` seconds, then cancels
    it. A task cancelled inside a database transaction makes SQLAlchemy throw its connection
    away mid-statement, and SQLite may keep the write lock until that connection's thread gets
    round to closing it (see BatchedLog.stop)."""
    try:
        await asyncio.wait_for(asyncio.shield(task), grace)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
