"""Transactions: 1.6 Start/Stop and 2.0.1 TransactionEvent folded to one shape, and the ends of those never stopped."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from csms import clock
from csms.authorization import AuthorizationResult
from csms.events import EventType, record
from csms.metering import ENERGY_REGISTER, Sample, energy_register_wh, latest_register, summary
from csms.models import MeterSample, Transaction, TransactionStatus
from csms.store.base import StoreBase
from csms.store.samples import sample_row


@dataclass(slots=True)
class TransactionFacts:
    """What one transaction message tells, in either version's terms folded to one shape."""

    timestamp: datetime
    clock_suspect: bool = False
    ocpp_transaction_id: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    token_type: str | None = None
    auth: AuthorizationResult | None = None
    meter_wh: float | None = (
        None  # a register reading given outside the samples (1.6 meterStart / meterStop)
    )
    samples: list[Sample] = field(default_factory=list)
    reason: str | None = None
    remote_start_id: int | None = None
    reservation_id: int | None = None
    charging_state: str | None = None
    trigger_reason: str | None = None
    seq_no: int | None = None
    offline: bool = False


class Transactions(StoreBase):
    """Each transaction, started, updated and ended once whatever the order its messages come in."""

    async def start_transaction(self, station_id: str, facts: TransactionFacts) -> Transaction:
        """1.6 StartTransaction. Idempotent: a retried Start gets the same transaction back."""
        async with self._tx() as session:
            same = await session.execute(
                select(Transaction).where(
                    Transaction.station_id == station_id,
                    Transaction.evse_id == facts.evse_id,
                    Transaction.id_token == facts.id_token,
                    Transaction.started_at == facts.timestamp,
                    Transaction.meter_start_wh == facts.meter_wh,
                )
            )
            if (existing := same.scalars().first()) is not None:
                return existing
            await self._supersede(session, station_id, facts)
            tx = Transaction(
                station_id=station_id,
                evse_id=facts.evse_id,
                connector_id=facts.connector_id,
                id_token=facts.id_token,
                id_token_type=facts.token_type,
                auth_status=facts.auth.status.value if facts.auth else None,
                authorization_reference=facts.auth.reference if facts.auth else None,
                started_at=facts.timestamp,
                meter_start_wh=facts.meter_wh,
                meter_last_wh=facts.meter_wh,
                meter_last_at=facts.timestamp,
                reservation_id=facts.reservation_id,
                clock_suspect=facts.clock_suspect,
            )
            session.add(tx)
            await session.flush()
            assert tx.id is not None
            tx.ocpp_transaction_id = str(tx.id)
            await self._started_event(session, tx, facts)
            return tx

    async def _supersede(
        self, session: AsyncSession, station_id: str, facts: TransactionFacts
    ) -> None:
        """A new transaction on a connector closes one whose Stop never came (digest quirk 2)."""
        stale = await session.execute(
            select(Transaction).where(
                Transaction.station_id == station_id,
                Transaction.evse_id == facts.evse_id,
                Transaction.status == TransactionStatus.ACTIVE,
                col(Transaction.started_at) <= facts.timestamp,
            )
        )
        for tx in stale.scalars():
            await self._end_unstopped(
                session, tx, facts.timestamp, "superseded by a new transaction"
            )

    async def _end_unstopped(
        self, session: AsyncSession, tx: Transaction, fallback: datetime, inferred: str
    ) -> None:
        """End a transaction whose Stop/Ended never came, at its last reading, and say why."""
        tx.status, tx.ended_at, tx.stop_reason = (
            TransactionStatus.ENDED,
            tx.meter_last_at or fallback,
            "Other",
        )
        tx.meter_stop_wh = tx.meter_last_wh
        tx.updated_at = clock.now()
        await record(
            session,
            tx.station_id,
            EventType.TRANSACTION_ENDED,
            **self._tx_data(tx),
            inferred=inferred,
        )

    async def suspect_transactions(self, station_id: str) -> list[Transaction]:
        """Transactions open when the charger rebooted, whose end may never be reported."""
        async with self.database() as session:
            rows = await session.execute(
                select(Transaction)
                .where(
                    Transaction.station_id == station_id,
                    Transaction.status == TransactionStatus.ACTIVE,
                    col(Transaction.suspect).is_(True),
                )
                .order_by(col(Transaction.id))
            )
            return list(rows.scalars())

    async def end_not_ongoing(self, transaction_id: int) -> bool:
        """The charger says a suspect transaction is over and nothing about it is queued: end it."""
        async with self._tx() as session:
            tx = await session.get(Transaction, transaction_id)
            if tx is None or tx.status != TransactionStatus.ACTIVE:
                return False
            await self._end_unstopped(
                session,
                tx,
                tx.started_at or clock.now(),
                "not ongoing at the charger after a reboot",
            )
            return True

    async def confirm_ongoing(self, transaction_id: int) -> None:
        """The charger still runs a transaction it had before rebooting: no longer suspect."""
        async with self._tx() as session:
            tx = await session.get(Transaction, transaction_id)
            if tx is None or tx.status != TransactionStatus.ACTIVE or not tx.suspect:
                return
            tx.suspect = False
            await record(
                session,
                tx.station_id,
                EventType.TRANSACTION_UPDATED,
                transaction_id=tx.id,
                ocpp_transaction_id=tx.ocpp_transaction_id,
                confirmed="ongoing at the charger after a reboot",
            )

    async def close_stale(self, older_than: timedelta) -> int:
        """End suspect transactions with no activity for older_than (digest quirk 2); how many.
        Every node sweeps: the rows are read locked, and those another node is ending are
        skipped, so each transaction is ended once (PostgreSQL re-checks a locked row's
        conditions; SQLite has one writer)."""
        cutoff = clock.now() - older_than
        async with self._tx() as session:
            rows = await session.execute(
                select(Transaction)
                .where(
                    Transaction.status == TransactionStatus.ACTIVE,
                    col(Transaction.suspect).is_(True),
                    col(Transaction.updated_at) <= cutoff,
                )
                .with_for_update(skip_locked=True)
            )
            stale = list(rows.scalars())
            for tx in stale:
                await self._end_unstopped(
                    session, tx, tx.started_at or tx.updated_at, "stale after a reboot"
                )
            return len(stale)

    async def _started_event(
        self, session: AsyncSession, tx: Transaction, facts: TransactionFacts
    ) -> None:
        await record(
            session,
            tx.station_id,
            EventType.TRANSACTION_STARTED,
            **self._tx_data(tx),
            auth_status=tx.auth_status,
            authorization_reference=facts.auth.reference if facts.auth else None,
            remote_start_id=tx.remote_start_id,
            reservation_id=tx.reservation_id,
            offline=facts.offline or None,
        )

    @staticmethod
    def _tx_data(tx: Transaction) -> dict[str, Any]:
        return {
            "transaction_id": tx.id,
            "ocpp_transaction_id": tx.ocpp_transaction_id,
            "evse_id": tx.evse_id,
            "connector_id": tx.connector_id,
            "id_token": tx.id_token,
            "token_type": tx.id_token_type,
            "started_at": tx.started_at,
            "ended_at": tx.ended_at,
            "meter_start_wh": tx.meter_start_wh,
            "meter_stop_wh": tx.meter_stop_wh,
            "meter_last_wh": tx.meter_last_wh,
            "stop_reason": tx.stop_reason,
            "clock_suspect": tx.clock_suspect or None,
        }

    async def stop_transaction(
        self, station_id: str, transaction_id: int, facts: TransactionFacts
    ) -> Transaction | None:
        """1.6 StopTransaction. Matches by id, else (ids -1/0 from some firmware) by token and time."""
        facts.samples = self._samples_within_budget(station_id, facts.samples)
        async with self._tx() as session:
            tx = await session.get(Transaction, transaction_id) if transaction_id > 0 else None
            if tx is None or tx.station_id != station_id:
                tx = await self._match_open(session, station_id, facts)
            if tx is None:
                await record(
                    session,
                    station_id,
                    EventType.TRANSACTION_ENDED,
                    unmatched=True,
                    ocpp_transaction_id=str(transaction_id),
                    timestamp=facts.timestamp,
                )
                return None
            if tx.status == TransactionStatus.ENDED:
                return tx  # a retried Stop: already done
            self._add_samples(session, tx, facts.samples)
            await self._end(session, tx, facts)
            return tx

    async def _match_open(
        self, session: AsyncSession, station_id: str, facts: TransactionFacts
    ) -> Transaction | None:
        rows = (
            await session.execute(
                select(Transaction)
                .where(
                    Transaction.station_id == station_id,
                    Transaction.status == TransactionStatus.ACTIVE,
                )
                .order_by(col(Transaction.started_at).desc())
            )
        ).scalars()
        candidates = [t for t in rows if t.started_at is None or t.started_at <= facts.timestamp]
        if facts.id_token:
            token = facts.id_token.upper()
            by_token = [t for t in candidates if (t.id_token or "").upper() == token]
            candidates = by_token or candidates
        return candidates[0] if candidates else None

    async def _end(self, session: AsyncSession, tx: Transaction, facts: TransactionFacts) -> None:
        readings = [r for r in (facts.meter_wh, energy_register_wh(facts.samples)) if r is not None]
        stop = readings[0] if readings else tx.meter_last_wh
        register_reset = False
        if stop is not None and tx.meter_start_wh is not None and stop < tx.meter_start_wh:
            # The register went backwards (meter reset): bill the highest in-transaction reading.
            register_reset = True
            stop = max(tx.meter_last_wh or tx.meter_start_wh, tx.meter_start_wh)
        at_stop = [s for s in facts.samples if s.timestamp == facts.timestamp]
        if facts.meter_wh is not None and energy_register_wh(at_stop) is None:
            # The 1.6 meterStop as the charger said it (whatever the clamping above made of
            # it): a reading like the others, for whoever recounts the energy (the CDR).
            session.add(
                MeterSample(
                    station_id=tx.station_id,
                    transaction_id=tx.id,
                    evse_id=tx.evse_id,
                    timestamp=facts.timestamp,
                    measurand=ENERGY_REGISTER,
                    context="Transaction.End",
                    value=facts.meter_wh,
                    unit="Wh",
                )
            )
        tx.status = TransactionStatus.ENDED
        tx.ended_at = facts.timestamp
        tx.meter_stop_wh = stop
        if stop is not None:
            tx.meter_last_wh, tx.meter_last_at = stop, facts.timestamp
        tx.stop_reason = facts.reason or "Local"
        tx.clock_suspect = tx.clock_suspect or facts.clock_suspect
        tx.updated_at = clock.now()
        await record(
            session,
            tx.station_id,
            EventType.TRANSACTION_ENDED,
            **self._tx_data(tx),
            register_reset=register_reset or None,
            energy_unit_suspect=await self._energy_implausible(session, tx) or None,
            seq_gaps=self._seq_gaps(tx) or None,
            offline=tx.offline or None,
        )

    @staticmethod
    async def _energy_implausible(session: AsyncSession, tx: Transaction) -> bool:
        """kWh readings labelled Wh (digest quirk 1): far less energy than the power drawn explains."""
        if None in (tx.meter_stop_wh, tx.meter_start_wh, tx.started_at, tx.ended_at):
            return False
        assert tx.meter_stop_wh is not None and tx.meter_start_wh is not None
        assert tx.started_at is not None and tx.ended_at is not None
        hours = (tx.ended_at - tx.started_at).total_seconds() / 3600
        if hours < 0.1:
            return False
        peak = await session.execute(
            select(func.max(MeterSample.value)).where(
                col(MeterSample.transaction_id) == tx.id,
                col(MeterSample.measurand) == "Power.Active.Import",
                col(MeterSample.phase).is_(None),
            )
        )
        peak_w = peak.scalar()
        return bool(
            peak_w
            and peak_w >= 1000
            and tx.meter_stop_wh - tx.meter_start_wh < peak_w * hours / 500
        )

    @staticmethod
    def _seq_gaps(tx: Transaction) -> bool:
        return tx.last_seq_no is not None and tx.seq_seen < tx.last_seq_no + 1

    def _add_samples(
        self,
        session: AsyncSession,
        tx: Transaction | None,
        samples: list[Sample],
        station_id: str | None = None,
        evse_id: int | None = None,
    ) -> None:
        for s in samples:
            row = (
                sample_row(s, tx.station_id, tx.id, tx.evse_id)
                if tx
                else sample_row(s, station_id or "", None, evse_id)
            )
            session.add(MeterSample(**row))
        if tx is None:
            return
        tx.meter_last_wh, tx.meter_last_at = latest_register(
            samples, tx.meter_last_wh, tx.meter_last_at
        )

    async def _by_ocpp_id(
        self, session: AsyncSession, station_id: str, ocpp_transaction_id: str
    ) -> Transaction | None:
        rows = await session.execute(
            select(Transaction).where(
                Transaction.station_id == station_id,
                Transaction.ocpp_transaction_id == ocpp_transaction_id,
            )
        )
        return rows.scalars().first()

    async def transaction_by_ocpp_id(
        self, station_id: str, ocpp_transaction_id: str
    ) -> Transaction | None:
        async with self.database() as session:
            return await self._by_ocpp_id(session, station_id, ocpp_transaction_id)

    async def transaction_event(
        self, station_id: str, event_type: str, facts: TransactionFacts
    ) -> Transaction:
        """2.0.1 TransactionEvent: Started / Updated / Ended in any order, each applied once.
        Committed (with its events) when this returns, in a group with others' (csms.writer)."""
        assert facts.ocpp_transaction_id is not None
        facts.samples = self._samples_within_budget(station_id, facts.samples)

        async def write(session: AsyncSession) -> Transaction:
            return await self._transaction_event(session, station_id, event_type, facts)

        tx: Transaction = await self.writer.run(write)
        return tx

    async def _transaction_event(
        self, session: AsyncSession, station_id: str, event_type: str, facts: TransactionFacts
    ) -> Transaction:
        assert facts.ocpp_transaction_id is not None
        tx = await self._by_ocpp_id(session, station_id, facts.ocpp_transaction_id)
        created = tx is None
        if tx is None:
            if event_type == "Started":
                await self._supersede(session, station_id, facts)
            tx = Transaction(
                station_id=station_id,
                ocpp_transaction_id=facts.ocpp_transaction_id,
                started_at=facts.timestamp,
            )
            session.add(tx)
        tx.seq_seen += 1
        if facts.seq_no is not None:
            tx.last_seq_no = max(tx.last_seq_no or 0, facts.seq_no)
        if facts.evse_id:
            tx.evse_id, tx.connector_id = (
                facts.evse_id,
                facts.connector_id or tx.connector_id or 1,
            )
        if facts.id_token and (tx.id_token is None or facts.auth is not None):
            tx.id_token, tx.id_token_type = facts.id_token, facts.token_type
            if facts.auth is not None:
                tx.auth_status = facts.auth.status.value
                tx.authorization_reference = facts.auth.reference
        tx.charging_state = facts.charging_state or tx.charging_state
        tx.remote_start_id = (
            facts.remote_start_id if facts.remote_start_id is not None else tx.remote_start_id
        )
        tx.reservation_id = (
            facts.reservation_id if facts.reservation_id is not None else tx.reservation_id
        )
        tx.offline = tx.offline or facts.offline
        tx.clock_suspect = tx.clock_suspect or facts.clock_suspect
        if tx.started_at is None or facts.timestamp < tx.started_at:
            tx.started_at = facts.timestamp
        # The start reading: the Started event's own (Transaction.Begin, else its earliest);
        # until Started arrives, the earliest reading of whatever came first.
        begin = energy_register_wh([s for s in facts.samples if s.context == "Transaction.Begin"])
        readings = sorted(
            (s for s in facts.samples if s.is_energy_register), key=lambda s: s.timestamp
        )
        first = readings[0].value if readings else None
        if event_type == "Started" and (begin is not None or first is not None):
            tx.meter_start_wh = begin if begin is not None else first
        elif tx.meter_start_wh is None:
            tx.meter_start_wh = first
        tx.updated_at = clock.now()
        await session.flush()
        self._add_samples(session, tx, facts.samples)
        if created:
            await self._started_event(session, tx, facts)
        if event_type == "Ended" and tx.status != TransactionStatus.ENDED:
            await self._end(session, tx, facts)
        elif not created:
            await record(
                session,
                station_id,
                EventType.TRANSACTION_UPDATED,
                transaction_id=tx.id,
                ocpp_transaction_id=tx.ocpp_transaction_id,
                event_type=event_type,
                trigger_reason=facts.trigger_reason,
                seq_no=facts.seq_no,
                charging_state=facts.charging_state,
                id_token=facts.id_token,
                values=summary(facts.samples),
                timestamp=facts.timestamp,
                late=(tx.status == TransactionStatus.ENDED) or None,
            )
        return tx

    async def open_transactions(self, station_id: str) -> list[Transaction]:
        async with self.database() as session:
            rows = await session.execute(
                select(Transaction).where(
                    Transaction.station_id == station_id,
                    Transaction.status == TransactionStatus.ACTIVE,
                )
            )
            return list(rows.scalars())

    async def transaction(self, transaction_id: int) -> Transaction | None:
        async with self.database() as session:
            return await session.get(Transaction, transaction_id)
