"""The outbox: "this object needs sending to this party", written in the change's own transaction.

Rows coalesce per (party, kind, object): however many changes pile up, the deliverer sends
the object's current state once. Nothing stale is ever replayed, and nothing is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cpo.metrics import Backlog
from cpo.push.tables import Delivered, PendingPush
from cpo.tables import Party, PartyState, endpoint_in
from csms import clock, upsert

IN_LIST_MAX = 500  # object ids looked up in one statement
MARK_PASSES = 8  # a row that keeps appearing under a mark more often than this is a bug
OUTBOX: Table = PendingPush.__table__  # type: ignore[attr-defined]
PARTIES: Table = Party.__table__  # type: ignore[attr-defined]
_MERGED = (
    OUTBOX.c.id,
    OUTBOX.c.party_id,
    OUTBOX.c.object_id,
    OUTBOX.c.scope,
    OUTBOX.c.evses,
    OUTBOX.c.due_at,
    OUTBOX.c.attempts,
    OUTBOX.c.failed,
)
# A change merged into a waiting row: a new version (a send in flight goes again), the wider
# scope, the EVSEs of both; a refused row is due again.
_MERGE = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("b_id"))
    .values(
        version=OUTBOX.c.version + 1,
        scope=bindparam("b_scope"),
        evses=bindparam("b_evses", type_=OUTBOX.c.evses.type),
        due_at=bindparam("b_due", type_=OUTBOX.c.due_at.type),
        failed=False,
    )
)

# Parties that should converge: a suspended one gets its backlog when it is resumed.
CONVERGING = (PartyState.REGISTERED, PartyState.SUSPENDED)


class Outbox:
    def __init__(self) -> None:
        self.changed = asyncio.Event()
        # Where the deliverer runs in a worker process: tells it too (cpo.push.worker).
        self.forward: Callable[[], None] | None = None

    def wake(self) -> None:
        """Tell the deliverer that rows are waiting; call after the commit."""
        self.changed.set()
        if self.forward is not None:
            self.forward()

    @staticmethod
    async def receivers(session: AsyncSession, module: str) -> list[int]:
        """The parties that offer a RECEIVER endpoint for `module`."""
        rows = await (await session.connection()).execute(
            select(PARTIES.c.id, PARTIES.c.endpoints).where(PARTIES.c.state.in_(list(CONVERGING)))
        )
        return [int(i) for i, endpoints in rows if endpoint_in(endpoints, module, "RECEIVER")]

    @staticmethod
    async def mark(
        session: AsyncSession,
        party_ids: Sequence[int],
        kind: str,
        object_id: str,
        scope: str = "full",
        evses: Iterable[str] = (),
        delay: float = 0.0,
    ) -> None:
        """Marks the object as pending for each party, merging into a waiting row.

        With a `delay`, the object travels no sooner than that (changes meanwhile ride along);
        a waiting row keeps its earlier due time.
        """
        await Outbox.mark_each(session, party_ids, kind, {object_id: evses}, scope, delay)

    @staticmethod
    async def mark_each(
        session: AsyncSession,
        party_ids: Sequence[int],
        kind: str,
        objects: Mapping[str, Iterable[str]],
        scope: str = "full",
        delay: float = 0.0,
    ) -> None:
        """`mark` for several objects of one kind at once (object id → EVSE uids changed)."""
        if not party_ids or not objects:
            return
        # Only for parties that converge, read under a share lock: an unregistration (which
        # drops the party's rows) waits for this transaction, or this one sees it and marks
        # nothing for that party; a session that outlives its eMSP's registration queues
        # nothing for the gone party.
        conn = await session.connection()
        party_ids = list(
            (
                await conn.execute(
                    select(PARTIES.c.id)
                    .where(
                        PARTIES.c.id.in_(list(party_ids)),
                        PARTIES.c.state.in_(list(CONVERGING)),
                    )
                    .with_for_update(read=True)
                )
            ).scalars()
        )
        if not party_ids:
            return
        now = clock.now()
        due = now + timedelta(seconds=delay)
        waiting = {(party_id, object_id) for object_id in objects for party_id in party_ids}
        # Each pass merges into the rows that exist, locked so that neither a deliverer (which
        # deletes a row it sent) nor another mark changes them before this transaction ends,
        # and inserts the others; a row another transaction inserted meanwhile (PostgreSQL's
        # READ COMMITTED: SQLite takes one writer at a time) is merged into on the next pass.
        for _ in range(MARK_PASSES):
            waiting = await Outbox._merge_or_insert(
                session, kind, objects, waiting, scope, due, now
            )
            if not waiting:
                return
        raise RuntimeError(f"outbox: {kind} rows kept appearing under this mark")

    @staticmethod
    async def _merge_or_insert(
        session: AsyncSession,
        kind: str,
        objects: Mapping[str, Iterable[str]],
        waiting: set[tuple[int, str]],
        scope: str,
        due: datetime,
        now: datetime,
    ) -> set[tuple[int, str]]:
        """One pass of `mark_each` over the (party, object) pairs `waiting`: the pairs whose
        row appeared (inserted by another transaction) between its read and its insert."""
        conn = await session.connection()
        existing: dict[tuple[int, str], Row[Any]] = {}
        party_ids = sorted({party_id for party_id, _ in waiting})
        ids = sorted({object_id for _, object_id in waiting})
        for start in range(0, len(ids), IN_LIST_MAX):  # a bounded IN list per statement
            rows = await conn.execute(
                select(*_MERGED)
                .where(
                    OUTBOX.c.party_id.in_(party_ids),
                    OUTBOX.c.kind == kind,
                    OUTBOX.c.object_id.in_(ids[start : start + IN_LIST_MAX]),
                )
                .order_by(OUTBOX.c.id)  # locks taken in one order by every mark
                .with_for_update()
            )
            existing |= {(row.party_id, row.object_id): row for row in rows}
        fresh: list[dict[str, object]] = []
        merged: list[dict[str, object]] = []
        for party_id, object_id in sorted(waiting):
            evses = set(objects[object_id])
            row = existing.get((party_id, object_id))
            if row is None:
                fresh.append(
                    dict(
                        party_id=party_id,
                        kind=kind,
                        object_id=object_id,
                        scope=scope,
                        evses=sorted(evses),
                        due_at=due,
                        version=1,
                        attempts=0,
                        failed=False,
                        created_at=now,
                    )
                )
                continue
            due_at = row.due_at
            if row.failed:  # a refused object is tried again with its new state
                due_at = due
            elif row.attempts == 0:
                due_at = min(row.due_at, due)
            merged.append(
                {
                    "b_id": row.id,
                    "b_scope": "full" if "full" in (scope, row.scope) else "status",
                    "b_evses": sorted(set(row.evses) | evses),
                    "b_due": due_at,
                }
            )
        if merged:  # one statement for them all
            await conn.execute(_MERGE, merged)
        if not fresh:
            return set()
        inserted = await conn.execute(
            upsert.insert(session, OUTBOX)
            .on_conflict_do_nothing(index_elements=["party_id", "kind", "object_id"])
            .returning(OUTBOX.c.party_id, OUTBOX.c.object_id),
            fresh,
        )
        appeared = {(int(str(row["party_id"])), str(row["object_id"])) for row in fresh}
        return appeared - {(int(party_id), str(object_id)) for party_id, object_id in inserted}


async def summary(session: AsyncSession, party_id: int) -> dict[str, object]:
    """What the operator sees of one party's pushes: pending, failed (with why), delivered,
    and the same per module."""
    rows = list(
        (
            await session.execute(
                select(PendingPush)
                .where(col(PendingPush.party_id) == party_id)
                .order_by(col(PendingPush.id))
            )
        ).scalars()
    )
    delivered = (
        await session.execute(
            select(func.count()).select_from(Delivered).where(col(Delivered.party_id) == party_id)
        )
    ).scalar_one()
    pending = [r for r in rows if not r.failed]
    oldest = min((r.created_at for r in pending), default=None)
    return {
        "pending": len(pending),
        "retrying": sum(1 for r in pending if r.attempts),
        "failed": [_view(r) for r in rows if r.failed],
        "delivered": int(delivered),
        "oldest_pending_seconds": round((clock.now() - oldest).total_seconds(), 3)
        if oldest
        else None,
        "errors": [_view(r) for r in pending if r.last_error][:50],  # being retried
        "modules": (await modules(session, [party_id])).get(party_id, {}),
    }


async def modules(
    session: AsyncSession, party_ids: Sequence[int] | None = None
) -> dict[int, dict[str, dict[str, Any]]]:
    """Each party's outbox per OCPI module (locations, tariffs, sessions, cdrs): objects
    pending, objects refused for good, and how long the oldest pending one has waited; one
    grouped read for the parties named (every party with rows when None)."""
    now = clock.now()
    stmt = select(
        OUTBOX.c.party_id,
        OUTBOX.c.kind,
        OUTBOX.c.failed,
        func.count(),
        func.min(OUTBOX.c.created_at),
    ).group_by(OUTBOX.c.party_id, OUTBOX.c.kind, OUTBOX.c.failed)
    if party_ids is not None:
        stmt = stmt.where(OUTBOX.c.party_id.in_(list(party_ids)))
    found: dict[int, dict[str, dict[str, Any]]] = {}
    for party_id, kind, failed, count, oldest in await (await session.connection()).execute(stmt):
        module = found.setdefault(int(party_id), {}).setdefault(
            f"{kind}s", {"pending": 0, "failed": 0, "oldest_pending_seconds": None}
        )
        if failed:
            module["failed"] = int(count)
        else:
            module["pending"] = int(count)
            module["oldest_pending_seconds"] = round(max(0.0, (now - oldest).total_seconds()), 3)
    return {party: dict(sorted(kinds.items())) for party, kinds in found.items()}


async def backlog(session: AsyncSession) -> list[Backlog]:
    """Every party's outbox in figures (the ones that should converge, with nothing waiting,
    too): two grouped reads, cheap enough for each scrape of /metrics."""
    figures = {
        party_id: Backlog(
            party_id,
            sum(m["pending"] for m in kinds.values()),
            sum(m["failed"] for m in kinds.values()),
            max((m["oldest_pending_seconds"] or 0.0 for m in kinds.values()), default=0.0),
        )
        for party_id, kinds in (await modules(session)).items()
    }
    conn = await session.connection()
    converging = await conn.execute(select(PARTIES.c.id).where(PARTIES.c.state.in_(CONVERGING)))
    for party_id in converging.scalars():
        figures.setdefault(int(party_id), Backlog(int(party_id), 0, 0, 0.0))
    return [figures[party_id] for party_id in sorted(figures)]


def _view(row: PendingPush) -> dict[str, object]:
    return {
        "kind": row.kind,
        "object_id": row.object_id,
        "attempts": row.attempts,
        "error": row.last_error,
    }


async def drop(session: AsyncSession, party_id: int) -> int:
    """Removes every row waiting for the party (it is gone): how many there were."""
    result = await session.execute(delete(PendingPush).where(col(PendingPush.party_id) == party_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def retry_failed(session: AsyncSession, party_id: int) -> int:
    result = await session.execute(
        update(PendingPush)
        .where(col(PendingPush.party_id) == party_id, col(PendingPush.failed).is_(True))
        .values(failed=False, attempts=0, due_at=clock.now(), scope="full")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
