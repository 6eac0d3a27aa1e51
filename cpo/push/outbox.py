"""The outbox: "this object needs sending to this party", written in the change's own transaction.

Rows coalesce per (party, kind, object): however many changes pile up, the deliverer sends
the object's current state once. Nothing stale is ever replayed, and nothing is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta

from sqlalchemy import func, insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from cpo.models import Delivered, Party, PartyState, PendingPush
from csms import clock

IN_LIST_MAX = 500  # object ids looked up in one statement

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
        rows = await session.execute(select(Party).where(col(Party.state).in_(list(CONVERGING))))
        return [p.id for p in rows.scalars() if p.id is not None and p.endpoint(module, "RECEIVER")]

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
        now = clock.now()
        due = now + timedelta(seconds=delay)
        existing: dict[tuple[int, str], PendingPush] = {}
        ids = list(objects)
        for start in range(0, len(ids), IN_LIST_MAX):  # a bounded IN list per statement
            rows = await session.execute(
                select(PendingPush).where(
                    col(PendingPush.party_id).in_(list(party_ids)),
                    PendingPush.kind == kind,
                    col(PendingPush.object_id).in_(ids[start : start + IN_LIST_MAX]),
                )
            )
            existing |= {(row.party_id, row.object_id): row for row in rows.scalars()}
        fresh: list[dict[str, object]] = []
        for object_id, changed in objects.items():
            evses = set(changed)
            for party_id in party_ids:
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
                row.version += 1
                row.scope = "full" if "full" in (scope, row.scope) else "status"
                row.evses = sorted(set(row.evses) | evses)
                if row.failed:  # a refused object is tried again with its new state
                    row.failed, row.due_at = False, due
                elif row.attempts == 0:
                    row.due_at = min(row.due_at, due)
        if fresh:  # one statement for them all
            await session.execute(insert(PendingPush), fresh)


async def summary(session: AsyncSession, party_id: int) -> dict[str, object]:
    """What the operator sees of one party's pushes: pending, failed (with why), delivered."""
    rows = list(
        (
            await session.execute(
                select(PendingPush)
                .where(PendingPush.party_id == party_id)
                .order_by(col(PendingPush.id))
            )
        ).scalars()
    )
    delivered = (
        await session.execute(
            select(func.count()).select_from(Delivered).where(Delivered.party_id == party_id)
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
    }


def _view(row: PendingPush) -> dict[str, object]:
    return {
        "kind": row.kind,
        "object_id": row.object_id,
        "attempts": row.attempts,
        "error": row.last_error,
    }


async def retry_failed(session: AsyncSession, party_id: int) -> int:
    result = await session.execute(
        update(PendingPush)
        .where(col(PendingPush.party_id) == party_id, col(PendingPush.failed).is_(True))
        .values(failed=False, attempts=0, due_at=clock.now(), scope="full")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
