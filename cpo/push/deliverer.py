"""The deliverer: sends each pending object's current state to its party, retrying with back-off.

One worker per party, so a slow or dead party holds back nobody else; within a party, several
objects travel at once (each object is one row, so one object never races itself), and a free
slot is filled as soon as a send ends. Rows are claimed (a lease in `claimed_until`), not merely
read, so several nodes can share the outbox. A party that cannot be reached is probed with one
object at a time; when the probe gets through, everything that waited goes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Row,
    Table,
    bindparam,
    case,
    delete,
    not_,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from cpo import logs
from cpo.hubs.clients import sendable, through
from cpo.hubs.wire import ConnectionStatus
from cpo.ocpi.client import OcpiCallError
from cpo.push.outbox import OUTBOX, PARTIES, Outbox
from cpo.push.tables import Delivered
from cpo.tables import Party, PartyState
from csms import clock, upsert
from csms.tasks import pause

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


# The hot path speaks SQLAlchemy Core: a round is a few statements, not a unit of work.
DELIVERED: Table = Delivered.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Claimed:
    """One outbox row, claimed for sending: what to send, and how to recognise it after."""

    id: int
    party_id: int
    kind: str
    object_id: str
    scope: str  # full | status
    evses: list[str]
    version: int
    attempts: int
    # Parts of the object (a Location's EVSEs) an earlier send of this row delivered, by id,
    # as of the `last_updated` they had (OCPI text): a row sent again because it changed
    # while it was sent skips those that have not changed since.
    sent_parts: dict[str, str] | None
    # What the kind's read-ahead read of the object in the round that claimed the row (None:
    # nothing; the sender reads it).
    ahead: Any = None


@dataclass(frozen=True)
class Sent:
    """What the party holds after a send: the object as of `last_updated`, and its parts as
    of theirs (id → OCPI `last_updated`), kept on the row should it have to go again."""

    last_updated: datetime
    parts: dict[str, str] = field(default_factory=dict)


# Sends one row's object to the party (`held`: whether the party holds a copy already);
# returns what the party now holds (its `last_updated`, or a Sent with its parts), or None
# when the object is gone and nothing needed sending.
Sender = Callable[[Party, Claimed, bool], Awaitable[datetime | Sent | None]]
# Reads what a kind's sender needs of many claimed rows' objects at once, in the round that
# claims them (one query, not one per send); by row id. A row's object changed after that
# read changes the row's version too, so it goes again with what it is then.
ReadAhead = Callable[[AsyncConnection, list[Claimed]], Awaitable[dict[int, Any]]]

_CLAIMED = (
    OUTBOX.c.id,
    OUTBOX.c.party_id,
    OUTBOX.c.kind,
    OUTBOX.c.object_id,
    OUTBOX.c.scope,
    OUTBOX.c.evses,
    OUTBOX.c.version,
    OUTBOX.c.attempts,
    OUTBOX.c.sent_parts,
)


LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)  # a lease that ran out


def _claimable(now: datetime) -> tuple[Any, ...]:
    """Rows not refused and not claimed by a live worker (here or on another node)."""
    return (
        OUTBOX.c.failed.is_(False),
        or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until < now),
    )


def _due(now: datetime) -> tuple[Any, ...]:
    """Rows to send now: claimable and not waiting out a back-off."""
    return (*_claimable(now), OUTBOX.c.due_at <= now)


@dataclass(frozen=True)
class _Done:
    """How one send ended, recorded by the next round (sends themselves never write)."""

    row: Claimed
    at: datetime
    outcome: str  # delivered | deferred | retry | refused
    last_updated: datetime | None = None  # delivered: what the party holds now; None: nothing sent
    parts: dict[str, str] = field(default_factory=dict)  # see Sent
    error: str | None = None  # retry | refused: why
    delay: float = 0.0  # retry | deferred: seconds until the row is due again
    back: bool = False  # the party answered after an outage: what waited goes now


@dataclass
class _Outage:
    """A party that cannot be reached: one probe at `until` (monotonic), then twice as long."""

    failures: int
    until: float


# Failures that say the party as a whole is away, not that this object is a problem.
_AWAY = {502, 503, 504}
DEFER_S = 0.5  # seconds a deferred row waits before it is tried again
ROUND_RETRY_MAX = 5.0  # longest pause before a round the database refused is tried again


class Deliverer:
    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        senders: dict[str, Sender],
        readers: async_sessionmaker[AsyncSession] | None = None,
        name: str | None = None,
        read_ahead: dict[str, ReadAhead] | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        concurrency: int = 8,
        lease: float = 120.0,
        poll: float = 1.0,
        probe_cap: float = 2.0,
    ) -> None:
        self.database = database
        self.readers = readers or database  # for what only reads: which parties have rows due
        self.name = name or uuid.uuid4().hex  # what its leases are known by
        self.outbox = outbox
        self.senders = senders
        self.read_ahead = read_ahead or {}
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease)
        self.poll = poll
        self.probe_cap = min(probe_cap, backoff_cap)
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._watchers: set[asyncio.Queue[Attempt]] = set()
        self._outages: dict[int, _Outage] = {}
        self._parties: dict[
            int, tuple[tuple[Row[Any], Row[Any] | None], Party | None]
        ] = {}  # as last read, and built
        self._nudges: dict[int, asyncio.Event] = {}
        self._stopped = asyncio.Event()

    def watch(self) -> asyncio.Queue[Attempt]:
        """A queue that hears of every delivery attempt from now on (until `unwatch`)."""
        queue: asyncio.Queue[Attempt] = asyncio.Queue()
        self._watchers.add(queue)
        return queue

    def unwatch(self, queue: asyncio.Queue[Attempt]) -> None:
        self._watchers.discard(queue)

    def _announce(self, row: Claimed, outcome: str, error: str | None = None) -> None:
        attempt = Attempt(row.party_id, row.kind, row.object_id, outcome, error)
        for queue in self._watchers:
            queue.put_nowait(attempt)

    def start(self) -> None:
        self.outbox.changed.set()  # rows a previous run left: look at once, not after a poll
        self._task = asyncio.create_task(self._supervise(), name="push-supervisor")

    async def stop(self, grace: float = 5.0) -> None:
        """Lets the workers finish the rows in hand (no transaction cut in half), then ends."""
        self._stopped.set()
        self.outbox.wake()
        for nudge in self._nudges.values():
            nudge.set()
        tasks = [t for t in (self._task, *self._workers.values()) if t and not t.done()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _supervise(self) -> None:
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.outbox.changed.wait(), self.poll)
            self.outbox.changed.clear()
            if self._stopped.is_set():
                return
            for nudge in self._nudges.values():  # live workers claim what just came in
                nudge.set()
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
        async with self.readers() as session:
            rows = await (await session.connection()).execute(
                select(OUTBOX.c.party_id)
                .join(PARTIES, PARTIES.c.id == OUTBOX.c.party_id)
                .where(
                    PARTIES.c.state == PartyState.REGISTERED,
                    # Behind a hub: only while the hub says it is connected.
                    or_(
                        PARTIES.c.hub_id.is_(None),
                        PARTIES.c.client_status == ConnectionStatus.CONNECTED,
                    ),
                    *_due(now),
                )
                .distinct()
            )
            return [int(r) for r in rows.scalars()]

    async def _work(self, party_id: int) -> None:
        """Keeps up to `concurrency` of the party's rows in flight, claiming more as sends end.

        Each round is one transaction: it records the sends that ended and claims the next
        rows. While the party is unreachable, one row at a time probes it; the first that gets
        through makes every row that waited due at once.
        """
        logs.about_party(party_id)  # this task and its sends
        in_flight: dict[asyncio.Task[_Done], Claimed] = {}
        finished: list[_Done] = []
        troubles = 0  # rounds in a row that failed (the database refused them)
        nudge = self._nudges.setdefault(party_id, asyncio.Event())
        refill = max(1, self.concurrency // 2)  # claim in handfuls, not one row per round
        try:
            while not self._stopped.is_set():
                nudge.clear()
                limit, probe = self.concurrency - len(in_flight), False
                if (outage := self._outages.get(party_id)) is not None:
                    if in_flight:
                        limit = 0  # let what is in flight end first
                    else:
                        await pause(self._stopped, outage.until - time.monotonic())
                        if self._stopped.is_set():
                            break
                        limit, probe = 1, True
                elif in_flight and limit < refill:
                    limit = 0
                party: Party | None = None
                rows: list[tuple[Claimed, bool]] = []
                # The sends that ended are recorded with the next claim (or once none is in
                # flight): a round per handful, not per send.
                if limit or (finished and not in_flight):
                    try:
                        party, rows = await self._round(party_id, limit, finished, probe)
                    except Exception:
                        # The sends that ended stay in `finished` for the next round, and the
                        # rows in flight stay ours: nothing waits out a lease.
                        troubles += 1
                        log.exception("push: a round for party %s failed; trying again", party_id)
                        await pause(self._stopped, min(ROUND_RETRY_MAX, 0.1 * 2**troubles))
                        continue
                    troubles = 0
                    if party is None:
                        break
                    if probe and not rows:
                        self._outages.pop(party_id, None)  # nothing left to say to it
                for row, held in rows:
                    assert party is not None
                    in_flight[asyncio.create_task(self._send(party, row, held))] = row
                if not in_flight:
                    break
                waiter = asyncio.create_task(nudge.wait())
                await asyncio.wait([*in_flight, waiter], return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                for task in [t for t in in_flight if t.done()]:
                    del in_flight[task]
                    finished.append(task.result())
        finally:
            if in_flight:  # stopping: let the sends in hand end (stop() cancels after its grace)
                for task in (await asyncio.wait(in_flight))[0]:
                    if not task.cancelled() and task.exception() is None:
                        finished.append(task.result())
            if finished:
                try:
                    await self._round(party_id, 0, finished)
                except Exception:  # their leases run out, or the next start releases them
                    log.exception("push: recording the last sends to party %s failed", party_id)

    @staticmethod
    async def release(
        database: async_sessionmaker[AsyncSession],
        name: str | None = None,
        live: Collection[str] = (),
    ) -> int:
        """Frees at once the rows a deliverer that died held: the one called `name` (or, a
        node's name, every deliverer of that node: theirs are called `node/…`), or (no name)
        any deliverer not of a node in `live`: a crash of the server kills its push worker
        too, and nobody is left to free the rows it was sending, which would wait out their
        lease (ADR 015, 018). It may have sent some halfway, so each goes whole (as after a
        lease that ran out)."""
        claimed_by = OUTBOX.c.claimed_by
        if name is not None:
            held = or_(claimed_by == name, claimed_by.startswith(name + "/", autoescape=True))
        elif live:
            held = not_(or_(*(claimed_by.startswith(node + "/", autoescape=True) for node in live)))
        else:
            held = true()
        async with database.begin() as session:
            result = await session.execute(
                update(OUTBOX)
                .where(OUTBOX.c.claimed_until.is_not(None), held)
                .values(claimed_until=LONG_AGO)
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def _round(
        self, party_id: int, limit: int, finished: list[_Done], probe: bool = False
    ) -> tuple[Party | None, list[tuple[Claimed, bool]]]:
        """One transaction: records the sends in `finished` (emptied once committed), then
        claims up to `limit` due rows, each with whether the party holds a copy, while the
        party is registered. A probe takes one row, due or not."""
        done = list(finished)
        claimed: list[Claimed] = []
        held: set[tuple[str, str]] = set()
        async with self.database.begin() as session:
            conn = await session.connection()
            again = await self._record(conn, done)
            party = await self._party(conn, party_id)
            if party is None:
                limit = 0
            if limit:
                claimed = await self._claim(conn, party_id, limit, probe)
            if claimed:
                copies = await conn.execute(
                    select(DELIVERED.c.kind, DELIVERED.c.object_id).where(
                        DELIVERED.c.party_id == party_id,
                        DELIVERED.c.object_id.in_({r.object_id for r in claimed}),
                    )
                )
                held = {(kind, object_id) for kind, object_id in copies}
                claimed = await self._read_ahead(conn, claimed)
        del finished[: len(done)]
        if again:
            self.outbox.wake()
        for sent in done:
            if sent.outcome != "deferred":
                self._announce(sent.row, sent.outcome, sent.error)
        return party, [(row, (row.kind, row.object_id) in held) for row in claimed]

    async def _read_ahead(self, conn: AsyncConnection, claimed: list[Claimed]) -> list[Claimed]:
        """The rows, each with what its kind's read-ahead read of its object."""
        ahead: dict[int, Any] = {}
        for kind in {row.kind for row in claimed}:
            if (read := self.read_ahead.get(kind)) is not None:
                ahead |= await read(conn, [row for row in claimed if row.kind == kind])
        if not ahead:
            return claimed
        return [replace(row, ahead=ahead.get(row.id)) for row in claimed]

    async def _party(self, conn: AsyncConnection, party_id: int) -> Party | None:
        """The party as it stands now, while it is registered (rebuilt only when it changed);
        a party behind a hub as it is called through the hub, while the hub says it is
        connected (what it is owed waits meanwhile)."""
        row = (await conn.execute(select(PARTIES).where(PARTIES.c.id == party_id))).first()
        hub = None
        if row is not None and row.hub_id is not None:
            hub = (await conn.execute(select(PARTIES).where(PARTIES.c.id == row.hub_id))).first()
        if row is None or row.state != PartyState.REGISTERED:
            self._parties.pop(party_id, None)
            return None
        known = self._parties.get(party_id)
        if known is None or known[0] != (row, hub):
            party: Party | None = Party(**row._mapping)
            if row.hub_id is not None:
                assert party is not None
                relay = Party(**hub._mapping) if hub is not None else None
                party = through(party, relay) if relay and sendable(party, relay) else None
            known = self._parties[party_id] = ((row, hub), party)
        return known[1]

    async def _claim(
        self, conn: AsyncConnection, party_id: int, limit: int, probe: bool
    ) -> list[Claimed]:
        """Leases up to `limit` rows in one statement. A row whose lease ran out was held by
        a worker that died mid-send, so the party may hold anything now: it goes whole."""
        now = clock.now()
        due = _claimable(now) if probe else _due(now)  # a probe ignores the back-off
        # A probe retries what failed already rather than spread failures.
        order = (OUTBOX.c.attempts.desc(), OUTBOX.c.due_at) if probe else (OUTBOX.c.id,)
        chosen = (
            select(OUTBOX.c.id)
            .where(OUTBOX.c.party_id == party_id, *due)
            .order_by(*order)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = await conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(chosen.scalar_subquery()))
            .values(
                claimed_until=now + self.lease,
                claimed_by=self.name,
                scope=case((OUTBOX.c.claimed_until.is_not(None), "full"), else_=OUTBOX.c.scope),
            )
            .returning(*_CLAIMED)
        )
        return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)

    @staticmethod
    async def _record(conn: AsyncConnection, ended: list[_Done]) -> bool:
        """Notes how the sends ended, in a few statements for them all: removes the rows
        delivered (unless they changed meanwhile: those go again, now) with what the party
        holds now, and schedules the rest again. True when some row must go again."""
        # Rows in id order, the order a mark locks them in (cpo.push.outbox): the two wait
        # for each other rather than deadlock.
        ended = sorted(ended, key=lambda sent: sent.row.id)
        await Deliverer._reschedule(conn, ended)
        done = [sent for sent in ended if sent.outcome == "delivered"]
        if not done:
            return False
        removed = set(
            (
                await conn.execute(
                    delete(OUTBOX)
                    .where(
                        tuple_(OUTBOX.c.id, OUTBOX.c.version).in_(
                            [(sent.row.id, sent.row.version) for sent in done]
                        )
                    )
                    .returning(OUTBOX.c.id)
                )
            ).scalars()
        )
        # Changed while we sent: send again, now (the new state, by PATCH if it can).
        again = [sent for sent in done if sent.row.id not in removed]
        if again:
            await conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == bindparam("b_id"))
                .values(
                    claimed_until=None,
                    attempts=0,
                    due_at=clock.now(),
                    last_error=None,
                    sent_parts=bindparam("b_parts", type_=OUTBOX.c.sent_parts.type),
                ),
                [
                    {"b_id": sent.row.id, "b_parts": (sent.row.sent_parts or {}) | sent.parts}
                    for sent in again
                ],
            )
        # What the party holds now, whether it held a copy before or not: an upsert, so a
        # copy recorded meanwhile by another node's deliverer is no conflict.
        if copies := [sent for sent in done if sent.last_updated is not None]:
            upsert_copy = upsert.insert(conn, DELIVERED)
            await conn.execute(
                upsert_copy.on_conflict_do_update(
                    index_elements=["party_id", "kind", "object_id"],
                    set_={
                        "last_updated": upsert_copy.excluded.last_updated,
                        "delivered_at": upsert_copy.excluded.delivered_at,
                    },
                ),
                [
                    {
                        "party_id": sent.row.party_id,
                        "kind": sent.row.kind,
                        "object_id": sent.row.object_id,
                        "last_updated": sent.last_updated,
                        "delivered_at": sent.at,
                    }
                    for sent in copies
                ],
            )
        return bool(again)

    @staticmethod
    async def _reschedule(conn: AsyncConnection, ended: list[_Done]) -> None:
        """Rows that failed (retried after a back-off, or refused for good) or were deferred,
        released for a later try; after an outage, whatever waited is due at once."""
        now = clock.now()
        for party_id in {sent.row.party_id for sent in ended if sent.back}:
            await conn.execute(
                update(OUTBOX)
                .where(
                    OUTBOX.c.party_id == party_id,
                    OUTBOX.c.failed.is_(False),
                    OUTBOX.c.attempts > 0,
                )
                .values(due_at=now, attempts=0)
            )
        if failed := [sent for sent in ended if sent.outcome in ("retry", "refused")]:
            await conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == bindparam("b_id"))
                .values(
                    claimed_until=None,
                    attempts=OUTBOX.c.attempts + 1,
                    due_at=bindparam("b_due", type_=OUTBOX.c.due_at.type),
                    failed=bindparam("b_failed"),
                    scope="full",  # the party may hold anything now: the next try is a PUT
                    last_error=bindparam("b_error"),
                ),
                [
                    {
                        "b_id": sent.row.id,
                        "b_due": sent.at + timedelta(seconds=sent.delay),
                        "b_failed": sent.outcome == "refused",
                        "b_error": (sent.error or "")[:2000],
                    }
                    for sent in failed
                ],
            )
        if deferred := [sent for sent in ended if sent.outcome == "deferred"]:
            await conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == bindparam("b_id"))
                .values(claimed_until=None, due_at=bindparam("b_due", type_=OUTBOX.c.due_at.type)),
                [
                    {"b_id": sent.row.id, "b_due": sent.at + timedelta(seconds=sent.delay)}
                    for sent in deferred
                ],
            )

    async def _send(self, party: Party, row: Claimed, held: bool) -> _Done:
        """Sends one row; returns how it ended, for the next round to record."""
        try:
            sent = await self.senders[row.kind](party, row, held)
        except Deferred:
            return _Done(row, clock.now(), "deferred", delay=DEFER_S)
        except OcpiCallError as e:
            return self._failed(row, e)
        except Exception as e:
            log.exception("push: %s %s to party %s failed", row.kind, row.object_id, row.party_id)
            return self._failed(row, OcpiCallError(f"{type(e).__name__}: {e}", ""))
        # Only an object that travelled says the party answers (a gone one sent nothing).
        back = sent is not None and self._outages.pop(row.party_id, None) is not None
        if back:
            log.info("push: party %s is reachable again", row.party_id)
        if isinstance(sent, Sent):
            return _Done(row, clock.now(), "delivered", sent.last_updated, sent.parts, back=back)
        return _Done(row, clock.now(), "delivered", sent, back=back)

    def _away(self, party_id: int) -> None:
        """Stops claiming for an unreachable party; a probe follows after a growing pause."""
        outage = self._outages.get(party_id)
        now = time.monotonic()
        if outage is not None and now < outage.until:
            return  # sends that were in flight together fail together: one failure
        failures = outage.failures + 1 if outage else 1
        delay = min(self.probe_cap, self.backoff_base * 2 ** (failures - 1))
        delay *= random.uniform(0.5, 1.0)
        self._outages[party_id] = _Outage(failures, now + delay)
        log.info("push: party %s unreachable; next try in %.1fs", party_id, delay)

    def _failed(self, row: Claimed, e: OcpiCallError) -> _Done:
        permanent = e.status_code is not None and 2000 <= e.status_code < 3000
        # A hub's 4001 (no such receiver) and 4003 (receiver not connected) say the same of a
        # party behind it as no answer says of a peer: one row probes until it gets through.
        if e.unreachable or e.http_status in _AWAY or e.status_code in (4001, 4003):
            self._away(row.party_id)
        delay = min(self.backoff_cap, self.backoff_base * 2**row.attempts)
        delay *= random.uniform(0.5, 1.0)  # jitter: parties that fail together retry apart
        log.info(
            "push: %s %s to party %s %s: %s",
            row.kind, row.object_id, row.party_id,
            "refused" if permanent else f"failed, retry in {delay:.1f}s", e.message,
        )  # fmt: skip
        outcome = "refused" if permanent else "retry"
        return _Done(row, clock.now(), outcome, error=e.message, delay=delay)
