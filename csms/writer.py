"""Group commit: the small writes of many chargers run together in one database transaction,
each caller answered once the transaction that holds its write has committed.

SQLite takes one writer at a time and the platform reaches it through one pooled connection,
so a transaction per message makes every message pay a BEGIN, a COMMIT and a thread hop per
statement while the others queue behind it. Here a write is handed to a `Writer` and the
caller awaits it; one flusher takes every write pending, runs them in one transaction (writes
of one `Batch` together, so a batch can insert all their rows in one statement), commits, and
only then answers each caller. Writes that arrive meanwhile make the next transaction: no
timer, no added delay when the platform is idle.

Acknowledged means committed: a caller that replies to its charger after `write` returns
never acknowledges what a crash could lose. A write that fails is reported to its own caller
only: when a transaction fails, its writes run again one transaction each, so the failing one
gets its exception and the others commit. Writes must therefore be repeatable (they are: a
rolled-back transaction left nothing behind). The events they record are announced once their
transaction has committed, as `Store._tx` does.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms.events import EVENTS_KEY, Announcement, hold_event_order
from csms.models import Event

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_WRITES = 1000  # per transaction


class Batch(Protocol[Item, Result]):
    """One kind of write, applied to a run of pending writes at once inside the transaction."""

    async def apply(self, session: AsyncSession, items: list[Item]) -> list[Result]:
        """The result of each item, in order; raises if any of them cannot be written."""
        ...


Job = Callable[[AsyncSession], Awaitable[Any]]


class Jobs:
    """The catch-all batch: each item is a function of the session, run one after the other."""

    async def apply(self, session: AsyncSession, items: list[Job]) -> list[Any]:
        results = [await job(session) for job in items]
        await session.flush()  # a constraint a job broke fails here, inside the transaction
        return results


class _Pending(Generic[Item, Result]):
    __slots__ = ("batch", "item", "future")

    def __init__(
        self, batch: Batch[Item, Result], item: Item, future: asyncio.Future[Result]
    ) -> None:
        self.batch, self.item, self.future = batch, item, future


class Writer:
    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        publish: Callable[[list[Event | Announcement]], None] | None = None,
        max_writes: int = MAX_WRITES,
    ) -> None:
        self.database = database
        self.publish = publish
        self.max_writes = max_writes
        self.jobs = Jobs()
        self._pending: list[_Pending[Any, Any]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.transactions = 0  # committed, for the curious (tests, metrics)

    async def write(self, batch: Batch[Item, Result], item: Item) -> Result:
        """Writes `item` with the others pending; returns once it has committed."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(batch, item, future))
        if self._flusher is None or self._flusher.done():
            # In a context of its own: it writes for every charger, not the one that woke it.
            self._flusher = asyncio.create_task(
                self._flush(), name="group-commit", context=contextvars.Context()
            )
        # A caller that goes away (its charger disconnected) cancels only its wait: the write
        # is made all the same.
        return await future

    async def run(self, job: Job) -> Any:
        """A write as a function of the session (ORM or Core), committed with the others."""
        return await self.write(self.jobs, job)

    async def drain(self) -> None:
        """Returns once every write handed over so far has committed or failed."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        while self._pending:
            taken = self._pending[: self.max_writes]
            del self._pending[: self.max_writes]
            try:
                await self._commit(taken)
            finally:
                for write in taken:  # cancelled mid-transaction (shutdown): nobody waits forever
                    if not write.future.done():
                        write.future.set_exception(ConnectionError("the writer was stopped"))

    async def _commit(self, taken: list[_Pending[Any, Any]]) -> None:
        try:
            results = await self._transaction(taken)
        except Exception as e:
            if len(taken) == 1:
                if not taken[0].future.done():
                    taken[0].future.set_exception(e)
                return
            log.info("a transaction of %d writes failed (%r); each alone now", len(taken), e)
            for write in taken:
                await self._commit([write])
            return
        for write, result in zip(taken, results, strict=True):
            if not write.future.done():
                write.future.set_result(result)

    async def _transaction(self, taken: list[_Pending[Any, Any]]) -> list[Any]:
        runs: dict[int, tuple[Batch[Any, Any], list[int]]] = {}
        for index, write in enumerate(taken):
            runs.setdefault(id(write.batch), (write.batch, []))[1].append(index)
        results: list[Any] = [None] * len(taken)
        async with self.database.begin() as session:
            # The group's writes record events: the log's order first, before any row lock.
            await hold_event_order(await session.connection())
            for batch, indexes in runs.values():
                applied = await batch.apply(session, [taken[i].item for i in indexes])
                for i, result in zip(indexes, applied, strict=True):
                    results[i] = result
            recorded = list(session.info.pop(EVENTS_KEY, []))
        self.transactions += 1
        if self.publish is not None:
            self.publish(recorded)
        return results
