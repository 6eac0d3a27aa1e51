"""Meter samples as rows: clipped to OCPP's lengths, and many chargers' MeterValues written in one go."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncSession

from csms import clock
from csms.budget import cut_text
from csms.events import EventType, NewEvents
from csms.many_rows import ManyRows
from csms.metering import Sample, latest_register, summary
from csms.models import MeterSample, Transaction, TransactionStatus

SAMPLE_ROW_BYTES = 96  # a sample's row and index entries, besides its text
SAMPLE_TEXT_MAX = 64  # measurand, phase, location, context and unit: OCPP enums are shorter
SIGNED_DATA_MAX = 8 * 1024  # twice OCPP 2.0.1's limit of signed meter data


@dataclass(slots=True)
class MeterValuesWrite:
    station_id: str
    evse_id: int
    transaction_id: int | None
    samples: list[Sample]
    ocpp_transaction_id: str | None = None


@dataclass(slots=True)
class _Reading:
    """What a meter-values write needs of its transaction, kept current across the batch."""

    id: int
    station_id: str
    evse_id: int | None
    last_wh: float | None
    last_at: datetime | None
    changed: bool = False


_T = Transaction.__table__.c  # type: ignore[attr-defined]
_READING = core_select(_T.id, _T.station_id, _T.evse_id, _T.meter_last_wh, _T.meter_last_at)
_INSERT_SAMPLES = ManyRows(insert(MeterSample.__table__))  # type: ignore[attr-defined]
_UPDATE_READING = ManyRows(
    update(Transaction.__table__)  # type: ignore[attr-defined]
    .where(_T.id == bindparam("tx_id"))
    .values(
        meter_last_wh=bindparam("last_wh"),
        meter_last_at=bindparam("last_at"),
        updated_at=bindparam("now"),
    )
)


class MeterValuesBatch:
    """MeterValues of many chargers in one go (Core, not the ORM): their transactions read in
    one query, samples and events inserted in one statement each, the transactions' latest
    readings updated in one. The same rows as one `Store._tx` per message would write."""

    async def apply(self, session: AsyncSession, items: list[MeterValuesWrite]) -> list[None]:
        conn = await session.connection()
        ids = {i.transaction_id for i in items if i.transaction_id}
        known: dict[int, _Reading] = {}
        if ids:
            for row in await conn.execute(_READING.where(_T.id.in_(ids))):
                known[row.id] = _Reading(*row)
        now = clock.now()
        sample_rows: list[dict[str, Any]] = []
        events = NewEvents(session, now)
        for item in items:
            tx = known.get(item.transaction_id or 0)
            if tx is not None and tx.station_id != item.station_id:
                tx = None
            if tx is None and not item.transaction_id and item.ocpp_transaction_id:
                tx = await self._find(
                    conn,
                    known,
                    (_T.station_id == item.station_id)
                    & (_T.ocpp_transaction_id == item.ocpp_transaction_id),
                )
            if tx is None and item.evse_id:
                tx = await self._find(
                    conn,
                    known,
                    (_T.station_id == item.station_id)
                    & (_T.evse_id == item.evse_id)
                    & (_T.status == TransactionStatus.ACTIVE),
                )
            sample_rows.extend(
                sample_row(s, tx.station_id, tx.id, tx.evse_id)
                if tx
                else sample_row(s, item.station_id, None, item.evse_id)
                for s in item.samples
            )
            if tx is not None:
                _advance(tx, item.samples)
            data: dict[str, Any] = {"evse_id": item.evse_id, "values": summary(item.samples)}
            if tx is not None:
                data["transaction_id"] = tx.id
            if item.samples:
                data["timestamp"] = max(s.timestamp for s in item.samples).isoformat()
            kind = EventType.METER_VALUES_SAMPLED.value
            events.add(item.station_id, kind, data)
        if sample_rows:
            await _INSERT_SAMPLES.execute(conn, sample_rows)
        await events.insert(conn)
        updates = [
            {"tx_id": tx.id, "last_wh": tx.last_wh, "last_at": tx.last_at, "now": now}
            for tx in known.values()
            if tx.changed
        ]
        if updates:
            await _UPDATE_READING.execute(conn, updates)
        return [None] * len(items)

    @staticmethod
    async def _find(conn: Any, known: dict[int, _Reading], where: Any) -> _Reading | None:
        row = (await conn.execute(_READING.where(where).limit(1))).first()
        if row is None:
            return None
        return known.setdefault(row.id, _Reading(*row))


def sample_row(
    s: Sample, station_id: str, transaction_id: int | None, evse_id: int | None
) -> dict[str, Any]:
    """A `meter_samples` row: one sampled value where it was measured."""
    return {
        "station_id": station_id,
        "transaction_id": transaction_id,
        "evse_id": evse_id,
        "timestamp": s.timestamp,
        "measurand": s.measurand,
        "phase": s.phase,
        "location": s.location,
        "context": s.context,
        "value": s.value,
        "unit": s.unit,
        "signed_data": s.signed_data,
    }


def clipped(samples: list[Sample]) -> tuple[list[Sample], int]:
    """The samples with their text no longer than OCPP's ever is (a charger may send anything),
    and about what they take in the database."""
    out, size = samples, 0
    for n, s in enumerate(samples):
        text = len(s.measurand) + len(s.phase or "") + len(s.location or "")
        text += len(s.context or "") + len(s.unit or "") + len(s.signed_data or "")
        if text > SAMPLE_TEXT_MAX:  # some part may be too long (rare: the sum is the fast test)
            s = replace(
                s,
                measurand=s.measurand[:SAMPLE_TEXT_MAX],
                phase=s.phase and s.phase[:SAMPLE_TEXT_MAX],
                location=s.location and s.location[:SAMPLE_TEXT_MAX],
                context=s.context and s.context[:SAMPLE_TEXT_MAX],
                unit=s.unit and s.unit[:SAMPLE_TEXT_MAX],
                signed_data=s.signed_data and cut_text(s.signed_data, SIGNED_DATA_MAX),
            )
            if out is samples:
                out = list(samples)
            out[n] = s
            text = len(s.measurand) + len(s.phase or "") + len(s.location or "")
            text += len(s.context or "") + len(s.unit or "") + len(s.signed_data or "")
        size += SAMPLE_ROW_BYTES + text
    return out, size


def _advance(tx: _Reading, samples: list[Sample]) -> None:
    tx.changed = True  # its updated_at, at least
    tx.last_wh, tx.last_at = latest_register(samples, tx.last_wh, tx.last_at)
