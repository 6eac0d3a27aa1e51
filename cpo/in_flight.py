"""eMSP requests a node carries out on a charger in the background (commands, charging profiles),
each owing the eMSP a result at its response_url: the tasks under way, and the results of those
that a restart or a dead node left without the charger's answer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ClassVar

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import SQLModel, col, select

from cpo.ocpi.status import OcpiError, Status
from cpo.ocpi.urls import same_origin
from cpo.push.outbox import Outbox
from cpo.tables import Party

SWEEP_SECONDS = 30.0


def check_response_url(party: Party, url: str, http: int = 200) -> None:
    """Only back to the party's own origins (a party behind a hub: the hub's): the platform
    never calls an address an eMSP picks (the client checks again when it sends the result).
    `http`: 400 for a query parameter, 200 in a body (the router's conventions for each)."""
    if not same_origin(url, party.origins()):
        raise OcpiError(
            Status.INVALID_PARAMETERS,
            "response_url must be an http(s) URL on the origin (scheme, host and port) of "
            "your versions URL",
            http=http,
        )


class InFlight:
    """Subclasses name their table (rows with `state` and `node`), the state a request is in
    while its charger has not answered, and what an interrupted one is answered with."""

    table: ClassVar[type[SQLModel]]
    waiting: ClassVar[str]  # the state of a request whose charger has not answered yet
    sweep_name: ClassVar[str] = "in-flight-sweep"

    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        charger_timeout: float,
        node: str | None = None,
        live_nodes: Callable[[], Awaitable[set[str]]] | None = None,
    ) -> None:
        """`node`: this node's name, recorded on each request it carries out; `live_nodes`:
        the nodes alive (several nodes), whose requests are not recovered by another."""
        self.database = database
        self.outbox = outbox
        self.charger_timeout = charger_timeout
        self.node = node
        self.live_nodes = live_nodes
        self._running: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def timeout(self) -> int:
        """What the eMSP is told to wait: the charger's time and a margin for us and the post."""
        return int(self.charger_timeout) + 30

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Carries a request out in the background (awaited by `finish`, cancelled by `stop`)."""
        task = asyncio.create_task(work, name=name)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def start(self) -> None:
        await self.recover()
        self._sweeper = asyncio.create_task(self._sweep_now_and_then(), name=self.sweep_name)

    async def stop(self) -> None:
        for task in [*self._running, *([self._sweeper] if self._sweeper else [])]:
            task.cancel()
        for task in [*self._running, *([self._sweeper] if self._sweeper else [])]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def finish(self, wait: float) -> None:
        """Gives the requests under way up to `wait` seconds to get their charger's answer."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=wait)

    async def recover(self) -> int:
        """Requests a restart interrupted before the charger answered get their result now:
        those of nodes not alive (one node: all of them, at its start, before it takes any)."""
        live = await self.live_nodes() if self.live_nodes is not None else set()
        table: Any = self.table
        async with self.database.begin() as session:
            rows = list(
                (
                    await session.execute(
                        select(table)
                        .where(
                            col(table.state) == self.waiting,
                            or_(col(table.node).is_(None), col(table.node).not_in(live)),
                        )
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            for row in rows:
                await self.interrupted(session, row)
        if rows:
            self.outbox.wake()
        return len(rows)

    async def interrupted(self, session: AsyncSession, row: Any) -> None:
        """Answers a request whose charger's answer was lost (and marks the result owed)."""
        raise NotImplementedError

    async def sweep(self) -> Any:
        """What else is due now and then (nothing here)."""

    async def _sweep_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            with contextlib.suppress(Exception):
                await self.sweep()
            if self.live_nodes is not None:  # a node that died owes its eMSPs their results
                with contextlib.suppress(Exception):
                    await self.recover()
