"""The deliverer: sends each pending object's current state to its party, retrying with back-off.

One worker per party, so a slow or dead party holds back nobody else; within a party, several
objects travel at once (each object is one row, so one object never races itself). Rows are
claimed (a lease in `claimed_until`), not merely read, so several nodes can share the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.models import Delivered, Party, PartyState, PendingPush
from cpo.ocpi.client import OcpiCallError
from cpo.push.outbox import Outbox
from csms import clock

log = logging.getLogger("cpo.push")


@dataclass(frozen=True)
class Attempt:
    """One delivery try, as announced to watchers (the admin API's push status is the record)."""

    party_id: int
    kind: str
    object_id: str
    outcome: str  # delivered | retry | refused
    error: str | None = None


class Deferred(Exception):
    """Not yet: something this object must follow is still on its way (a CDR after its
    Session's last update). The row waits a moment, with no failure counted."""


# Sends one row's object to the party; returns the `last_updated` the party now holds, or
# None when the object is gone and nothing needed sending.
Sender = Callable[[Party, PendingPush, Delivered | None], Awaitable[datetime | None]]


def _due(now: datetime) -> tuple[Any, ...]:
    """Rows to send now: not refused, due, and not claimed by a live worker (here or on another node)."""
    return (
        col(PendingPush.failed).is_(False),
        col(PendingPush.due_at) <= now,
        or_(col(PendingPush.claimed_until).is_(None), col(PendingPush.claimed_until) < now),
    )


class Deliverer:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        senders: dict[str, Sender],
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        concurrency: int = 8,
        lease: float = 120.0,
        poll: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.senders = senders
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease)
        self.poll = poll
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._watchers: set[asyncio.Queue[Attempt]] = set()

    def watch(self) -> asyncio.Queue[Attempt]:
        """A queue that hears of every delivery attempt from now on (until `unwatch`)."""
        queue: asyncio.Queue[Attempt] = asyncio.Queue()
        self._watchers.add(queue)
        return queue

    def unwatch(self, queue: asyncio.Queue[Attempt]) -> None:
        self._watchers.discard(queue)

    def _announce(self, row: PendingPush, outcome: str, error: str | None = None) -> None:
        attempt = Attempt(row.party_id, row.kind, row.object_id, outcome, error)
        for queue in self._watchers:
            queue.put_nowait(attempt)

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="push-supervisor")

    async def stop(self, grace: float = 5.0) -> None:
        """Lets the workers finish the rows in hand (no transaction cut in half), then ends."""
        self._stopping = True
        self.outbox.wake()
        tasks = [t for t in (self._task, *self._workers.values()) if t and not t.done()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _supervise(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.outbox.changed.wait(), self.poll)
            self.outbox.changed.clear()
            if self._stopping:
                return
            try:
                for party_id in await self._due_parties():
                    worker = self._workers.get(party_id)
                    if worker is None or worker.done():
                        self._workers[party_id] = asyncio.create_task(
                            self._work(party_id), name=f"push-party-{party_id}"
                        )
            except Exception:
                log.exception("push: cannot read the outbox")

    async def _due_parties(self) -> list[int]:
        now = clock.now()
        async with self.sessions() as session:
            rows = await session.execute(
                select(PendingPush.party_id)
                .join(Party, col(Party.id) == col(PendingPush.party_id))
                .where(Party.state == PartyState.REGISTERED, *_due(now))
                .distinct()
            )
            return [int(r) for r in rows.scalars()]

    async def _work(self, party_id: int) -> None:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(party: Party, row: PendingPush) -> None:
            async with gate:
                await self.deliver(party, row)

        while not self._stopping:
            async with self.sessions() as session:
                party = await session.get(Party, party_id)
            if party is None or party.state != PartyState.REGISTERED:
                return
            rows = await self._claim(party_id, 100)
            if not rows:
                return
            await asyncio.gather(*(one(party, row) for row in rows))

    async def _claim(self, party_id: int, limit: int) -> list[PendingPush]:
        now = clock.now()
        async with self.sessions.begin() as session:
            rows = list(
                (
                    await session.execute(
                        select(PendingPush)
                        .where(PendingPush.party_id == party_id, *_due(now))
                        .order_by(col(PendingPush.id))
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            for row in rows:
                if row.claimed_until is not None:
                    # A lease that ran out: whoever held it died mid-send, so the party may
                    # hold anything now. Send the whole object.
                    row.scope = "full"
                row.claimed_until = now + self.lease
        return rows

    async def deliver(self, party: Party, row: PendingPush) -> None:
        async with self.sessions() as session:
            held = await session.get(Delivered, (row.party_id, row.kind, row.object_id))
        try:
            sent = await self.senders[row.kind](party, row, held)
        except Deferred:
            async with self.sessions.begin() as session:
                await session.execute(
                    update(PendingPush)
                    .where(col(PendingPush.id) == row.id)
                    .values(claimed_until=None, due_at=clock.now() + timedelta(seconds=0.5))
                )
            return
        except OcpiCallError as e:
            await self._failed(row, e)
            return
        except Exception as e:
            log.exception("push: %s %s to party %s failed", row.kind, row.object_id, row.party_id)
            await self._failed(row, OcpiCallError(f"{type(e).__name__}: {e}", ""))
            return
        now = clock.now()
        async with self.sessions.begin() as session:
            result = await session.execute(
                delete(PendingPush).where(
                    col(PendingPush.id) == row.id, col(PendingPush.version) == row.version
                )
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                # Changed while we sent: send again, now (the new state, by PATCH if it can).
                await session.execute(
                    update(PendingPush)
                    .where(col(PendingPush.id) == row.id)
                    .values(claimed_until=None, attempts=0, due_at=now, last_error=None)
                )
                self.outbox.wake()
            if sent is not None:
                held = await session.get(Delivered, (row.party_id, row.kind, row.object_id))
                if held is None:
                    session.add(
                        Delivered(
                            party_id=row.party_id,
                            kind=row.kind,
                            object_id=row.object_id,
                            last_updated=sent,
                            delivered_at=now,
                        )
                    )
                else:
                    held.last_updated, held.delivered_at = sent, now
        self._announce(row, "delivered")

    async def _failed(self, row: PendingPush, e: OcpiCallError) -> None:
        permanent = e.status_code is not None and 2000 <= e.status_code < 3000
        delay = min(self.backoff_cap, self.backoff_base * 2**row.attempts)
        delay *= random.uniform(0.5, 1.0)  # jitter: parties that fail together retry apart
        log.info(
            "push: %s %s to party %s %s: %s",
            row.kind, row.object_id, row.party_id,
            "refused" if permanent else f"failed, retry in {delay:.1f}s", e.message,
        )  # fmt: skip
        async with self.sessions.begin() as session:
            await session.execute(
                update(PendingPush)
                .where(col(PendingPush.id) == row.id)
                .values(
                    claimed_until=None,
                    attempts=PendingPush.attempts + 1,
                    due_at=clock.now() + timedelta(seconds=delay),
                    failed=permanent,
                    scope="full",  # the party may hold anything now: the next try is a PUT
                    last_error=e.message[:2000],
                )
            )
        self._announce(row, "refused" if permanent else "retry", e.message)
