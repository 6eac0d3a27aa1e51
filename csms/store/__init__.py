"""State changes of stations, connectors and transactions, each written with its domain event in one database transaction."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from csms import charging_profiles, clock, device_model, metrics
from csms.authorization import AuthorizationResult
from csms.budget import MinuteBudget, cut_fields, cut_text, json_size
from csms.charging_profiles import HeldProfile
from csms.device_model import DeviceVariable
from csms.events import (
    EVENTS_KEY,
    Announcement,
    EventFeed,
    EventType,
    hold_event_order,
    record,
)
from csms.metering import (
    ENERGY_REGISTER,
    Sample,
    energy_register_wh,
    latest_register,
    summary,
)
from csms.models import (
    Connector,
    Event,
    MeterSample,
    Station,
    Transaction,
    TransactionStatus,
    Upload,
)
from csms.presence import (
    Boot,
    Changes,
    Connect,
    Disconnect,
    Login,
    Lookups,
    Presence,
    abandon,
    abandon_connections,
    left_online,
    online_epochs,
)
from csms.writer import Writer

# 1.6 connector states folded into the version-neutral (2.0.1) connector status.
_NEUTRAL_STATUS = {
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
}


# What one charger may add to the event log and the meter samples (its message log has a budget
# of its own). Past the budget, a charger's state changes are still applied and logged, but
# what it says beside them (DataTransfer data, reports, meter samples other than the billing
# register) is cut: a charger that floods cannot fill the disk.
DATA_BYTES_PER_MINUTE = 8 * 1024 * 1024
EVENT_DATA_FLOOR = 1024  # bytes kept of an event's data past the budget
SAMPLE_ROW_BYTES = 96  # a sample's row and index entries, besides its text
SAMPLE_TEXT_MAX = 64  # measurand, phase, location, context and unit: OCPP enums are shorter
SIGNED_DATA_MAX = 8 * 1024  # twice OCPP 2.0.1's limit of signed meter data
CONNECTOR_ROW_BYTES = 256  # a connector's row, or a status report's event


def neutral_status(status: str) -> str:
    return _NEUTRAL_STATUS.get(status, status)


@dataclass(slots=True)
class BootInfo:
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class StatusReport:
    evse_id: int  # 0 = the station as a whole
    connector_id: int
    status: str  # as the charger said it
    timestamp: datetime
    clock_suspect: bool = False
    error_code: str | None = None
    info: str | None = None
    vendor_error_code: str | None = None


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


class Store:
    """The csms's writes. Every method is one database transaction: state and event together."""

    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        data_bytes_per_minute: int = DATA_BYTES_PER_MINUTE,
        reads: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        """`reads`: sessions for what only reads what has committed (csms.db.make_reader)."""
        self.database = database
        self.reads = reads or database
        self.budget = MinuteBudget(data_bytes_per_minute)
        self.feed = EventFeed()
        # The hot path's writes (meter values, transaction updates) commit in groups.
        self.writer = Writer(database, self.feed.publish)
        self._meter_values = _MeterValuesBatch()
        # Chargers connecting, booting and going: grouped too (a reconnect storm is thousands).
        self._lookups = Lookups()
        self._changes = Changes()
        self._seen: dict[str, datetime] = {}

    @contextlib.asynccontextmanager
    async def _tx(self, events: bool = True) -> AsyncIterator[AsyncSession]:
        """One database transaction; the events it recorded are announced once it has committed.
        One that may record events holds the event log's order from its start (before any row
        lock: csms.events.hold_event_order)."""
        async with self.database.begin() as session:
            if events:
                await hold_event_order(await session.connection())
            yield session
            recorded = list(session.info.pop(EVENTS_KEY, []))
        self.feed.publish(recorded)

    # -- stations ----------------------------------------------------------------------------

    async def login(self, station_id: str) -> Login | None:
        """What the endpoint checks before it accepts a charger's socket; None when unknown.
        Read together with the other chargers connecting meanwhile (csms.presence)."""
        login: Login | None = await self.writer.write(self._lookups, station_id)
        return login

    async def connected(
        self, station_id: str, ocpp_version: str, auto_register: bool, epoch: int
    ) -> Presence:
        """Committed (with its event) when this returns, in a group with other chargers'.
        `epoch`: the connection's (csms.registry); an older one's connect changes nothing."""
        presence: Presence = await self.writer.write(
            self._changes, Connect(station_id, ocpp_version, auto_register, clock.now(), epoch)
        )
        return presence

    async def disconnected(self, station_id: str, reason: str, epoch: int) -> None:
        """Marks the station offline if the connection of `epoch` still holds it."""
        self._seen.pop(station_id, None)
        await self.writer.write(self._changes, Disconnect(station_id, reason, clock.now(), epoch))

    async def left_online(self, connected_before: datetime) -> list[str]:
        """Stations recorded online by a connection made before `connected_before`."""
        async with self.database() as session:
            return await left_online(session, connected_before)

    async def abandoned(
        self, station_ids: list[str], connected_before: datetime, reason: str
    ) -> list[str]:
        """Marks offline (with their events) those of `station_ids` still online by a connection
        made before `connected_before`, a few hundred per transaction; the ids marked."""
        gone: list[str] = []
        for start in range(0, len(station_ids), 500):
            chunk = station_ids[start : start + 500]

            async def write(session: AsyncSession, chunk: list[str] = chunk) -> list[str]:
                return await abandon(session, chunk, connected_before, clock.now(), reason)

            gone += await self.writer.run(write)
        return gone

    async def online_epochs(self) -> dict[str, int | None]:
        """The stations recorded online, with the epoch of the connection recorded."""
        async with self.database() as session:
            return await online_epochs(session)

    async def abandoned_connections(self, epochs: dict[str, int | None], reason: str) -> list[str]:
        """`abandoned` for connections (station id → epoch) that no live node holds."""
        items = list(epochs.items())
        gone: list[str] = []
        for start in range(0, len(items), 500):
            chunk = dict(items[start : start + 500])

            async def write(
                session: AsyncSession, chunk: dict[str, int | None] = chunk
            ) -> list[str]:
                return await abandon_connections(session, chunk, clock.now(), reason)

            gone += await self.writer.run(write)
        return gone

    async def booted(self, station_id: str, info: BootInfo) -> None:
        """Committed (with its event) when this returns: only then may the charger be told."""
        await self.writer.write(self._changes, Boot(station_id, info, clock.now()))

    def seen(self, station_id: str) -> None:
        """Any message is a sign of life; written in batches, not per message."""
        self._seen[station_id] = clock.now()

    async def flush_seen(self) -> None:
        seen, self._seen = self._seen, {}
        if not seen:
            return
        async with self._tx(events=False) as session:
            conn = await session.connection()  # one statement for all, not one per station
            await conn.execute(
                _UPDATE_SEEN, [{"station": station_id, "at": at} for station_id, at in seen.items()]
            )

    async def station_fields(
        self, station_id: str, kind: EventType, fields: dict[str, Any], /, **data: Any
    ) -> None:
        """A notification that sets a few station fields (firmware status, ...) and is logged as an event."""
        data = self._within_budget(station_id, data)
        async with self._tx() as session:
            if fields:
                await session.execute(
                    update(Station).where(col(Station.id) == station_id).values(**fields)
                )
            await record(session, station_id, kind, **data)

    async def event(self, station_id: str, kind: EventType, /, **data: Any) -> None:
        data = self._within_budget(station_id, data)
        async with self._tx() as session:
            await record(session, station_id, kind, **data)

    # -- the device model (2.0.1, csms.device_model) -------------------------------------------

    async def report(
        self, station_id: str, report_data: list[dict[str, Any]], **about: Any
    ) -> None:
        """A NotifyReport: its variables into the device model, and the event that it came."""
        data = self._within_budget(station_id, about | {"report_data": report_data})
        async with self._tx() as session:
            await device_model.reported(session, station_id, report_data)
            await record(session, station_id, EventType.REPORT_RECEIVED, **data)

    async def variables_answered(self, station_id: str, results: list[dict[str, Any]]) -> None:
        """The values a GetVariables or SetVariables answer says the charger now holds."""
        async with self._tx(events=False) as session:
            await device_model.answered(session, station_id, results)

    async def device_limit(self, station_id: str, variable: str, instance: str) -> int | None:
        async with self.reads() as session:
            return await device_model.limit(session, station_id, variable, instance)

    async def device_variables(
        self,
        station_id: str,
        component: str | None = None,
        variable: str | None = None,
        limit: int = 1000,
    ) -> list[DeviceVariable]:
        async with self.reads() as session:
            return await device_model.variables_of(session, station_id, component, variable, limit)

    # -- charging profiles a charger should hold (csms.charging_profiles) ---------------------

    async def profile_held(self, station_id: str, evse_id: int, profile: dict[str, Any]) -> None:
        async with self._tx(events=False) as session:
            await charging_profiles.held(session, station_id, evse_id, profile)

    async def profiles_cleared(self, station_id: str, **criteria: Any) -> None:
        async with self._tx(events=False) as session:
            await charging_profiles.cleared(session, station_id, **criteria)

    async def profiles(self, station_id: str) -> list[HeldProfile]:
        async with self.reads() as session:
            return await charging_profiles.of(session, station_id)

    def _within_budget(self, station_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """An event's data, its largest parts cut past the charger's budget."""
        if self.budget.spend(station_id, json_size(data)):
            return data
        metrics.stored_cut("events", "budget").inc()
        return cut_fields(data, EVENT_DATA_FLOOR)

    def _samples_within_budget(self, station_id: str, samples: list[Sample]) -> list[Sample]:
        """A message's samples; past the charger's budget, only its first and last billing
        register readings (what the transaction's energy is computed from)."""
        if not samples:
            return samples
        samples, size = _clipped(samples)
        if self.budget.spend(station_id, size):
            return samples
        registers = sorted((s for s in samples if s.is_energy_register), key=lambda s: s.timestamp)
        ends = {id(s): s for s in registers[:1] + registers[-1:]}
        kept = [replace(s, signed_data=None) for s in ends.values()]
        metrics.stored_cut("meter_samples", "budget").inc(len(samples) - len(kept))
        return kept

    # -- connectors ----------------------------------------------------------------------------

    async def status(self, station_id: str, report: StatusReport) -> bool:
        """Apply a status report unless a newer one was applied already (chargers replay stale ones)."""
        status = neutral_status(report.status)
        detail = report.status if status != report.status else None
        # Past the budget, a report that would add a connector or change nothing is dropped.
        within_budget = self.budget.spend(station_id, CONNECTOR_ROW_BYTES)
        facts = {
            "status": status,
            "error_code": report.error_code,
            "info": report.info,
            "vendor_error_code": report.vendor_error_code,
            "timestamp": report.timestamp,
            "clock_suspect": report.clock_suspect or None,
        }

        async def write(session: AsyncSession) -> bool:
            # The group's reports flush together (one UPDATE and one INSERT for them all), not
            # before each lookup: a charger has one CALL in flight, so no two reports of one
            # connector share a group.
            with session.no_autoflush:
                if report.evse_id == 0:
                    station = await session.get(Station, station_id)
                    assert station is not None
                    if station.status_at and report.timestamp < station.status_at:
                        return False
                    previous = station.status
                    station.status, station.error_code, station.status_at = (
                        status,
                        report.error_code,
                        report.timestamp,
                    )
                    await record(
                        session,
                        station_id,
                        EventType.STATION_STATUS_CHANGED,
                        previous=previous,
                        **facts,
                    )
                    return True
                connector = await session.get(
                    Connector, (station_id, report.evse_id, report.connector_id)
                )
                if not within_budget and (connector is None or connector.status == status):
                    metrics.stored_cut("status", "budget").inc()
                    return False
                if connector is None:
                    connector = Connector(
                        station_id=station_id,
                        evse_id=report.evse_id,
                        connector_id=report.connector_id,
                    )
                    session.add(connector)
                elif connector.status_at and report.timestamp < connector.status_at:
                    return False
                previous = connector.status
                connector.status, connector.status_detail = status, detail
                connector.error_code, connector.info = report.error_code, report.info
                connector.vendor_error_code = report.vendor_error_code
                connector.status_at, connector.updated_at = report.timestamp, clock.now()
                await record(
                    session,
                    station_id,
                    EventType.CONNECTOR_STATUS_CHANGED,
                    evse_id=report.evse_id,
                    connector_id=report.connector_id,
                    detail=detail,
                    previous=previous,
                    **facts,
                )
                return True

        # With the other chargers' writes of the moment, in one transaction (group commit).
        return bool(await self.writer.run(write))

    async def discover(self, station_id: str, evse_id: int, connector_id: int) -> None:
        """An EVSE/connector the charger reported (NotifyReport) without a status yet."""
        if not self.budget.spend(station_id, CONNECTOR_ROW_BYTES):
            metrics.stored_cut("connectors", "budget").inc()
            return
        async with self._tx() as session:
            if await session.get(Connector, (station_id, evse_id, connector_id)) is None:
                session.add(
                    Connector(
                        station_id=station_id,
                        evse_id=evse_id,
                        connector_id=connector_id,
                        updated_at=clock.now(),
                    )
                )

    # -- passwords a charger is asked to take (csms.commands.security) ------------------------

    async def password_offered(self, station_id: str, password_hash: str) -> None:
        """The charger is about to be asked to take a new password: from now on both count."""
        async with self._tx() as session:
            await session.execute(
                update(Station)
                .where(col(Station.id) == station_id)
                .values(pending_password_hash=password_hash)
            )

    @staticmethod
    def _offered(station_id: str, password_hash: str) -> Any:
        """The station, while `password_hash` is still the new password it was offered."""
        return update(Station).where(
            col(Station.id) == station_id, col(Station.pending_password_hash) == password_hash
        )

    async def password_refused(self, station_id: str, password_hash: str) -> None:
        """The charger did not take it: only the current password counts again (unless another
        rotation offered a newer one meanwhile)."""
        async with self._tx() as session:
            await session.execute(
                self._offered(station_id, password_hash).values(pending_password_hash=None)
            )

    async def password_taken(self, station_id: str, password_hash: str) -> None:
        """The charger logged in with the new password: it is the only one now."""
        async with self._tx() as session:
            await session.execute(
                self._offered(station_id, password_hash).values(
                    password_hash=password_hash, pending_password_hash=None
                )
            )
            await record(session, station_id, EventType.PASSWORD_CHANGED)

    # -- files a charger is asked to upload (csms.uploads) ------------------------------------

    async def upload_requested(
        self, station_id: str, kind: str, secret_hash: str, expires_at: datetime
    ) -> int:
        """A new upload slot; its id."""
        async with self._tx(events=False) as session:
            upload = Upload(
                station_id=station_id, kind=kind, secret_hash=secret_hash, expires_at=expires_at
            )
            session.add(upload)
            await session.flush()
            assert upload.id is not None
            return upload.id

    async def upload_answered(
        self, upload_id: int, status: str, file_name: str | None, withdrawn: bool
    ) -> None:
        """What the charger answered to the request; `withdrawn`: it will send nothing, so the
        slot closes. A charger may report its progress (or upload) before this is written: what
        it said then is not overwritten."""
        mine = col(Upload.id) == upload_id
        async with self._tx(events=False) as session:
            await session.execute(
                update(Upload).where(mine, col(Upload.status) == "Requested").values(status=status)
            )
            if file_name:
                await session.execute(
                    update(Upload)
                    .where(mine, col(Upload.file_name).is_(None))
                    .values(file_name=file_name[:255])
                )
            if withdrawn:
                await session.execute(
                    update(Upload)
                    .where(mine, col(Upload.received_at).is_(None))
                    .values(secret_hash=None)
                )

    async def upload_status(
        self, station_id: str, kind: EventType, status: str, request_id: int | None
    ) -> None:
        """A DiagnosticsStatusNotification or LogStatusNotification, recorded as its event and
        written on the upload it is about: the one of that request id (GetLog asks with the
        upload's id), or for 1.6 diagnostics, which carry none, the station's latest."""
        data = self._within_budget(station_id, {"status": status, "request_id": request_id})
        async with self._tx() as session:
            if request_id is not None:
                which = col(Upload.id) == request_id
            else:
                latest = (
                    select(func.max(Upload.id))
                    .where(col(Upload.station_id) == station_id, col(Upload.kind) == "Diagnostics")
                    .scalar_subquery()
                )
                which = col(Upload.id) == latest
            if status != "Idle":  # the answer to a TriggerMessage: about no upload
                result = await session.execute(
                    update(Upload)
                    .where(which, col(Upload.station_id) == station_id)
                    .values(status=status[:32])
                    .returning(col(Upload.id))
                )
                upload_id = result.scalar_one_or_none()
                if upload_id is not None:
                    data["upload_id"] = upload_id
            if kind is EventType.DIAGNOSTICS_STATUS:
                await session.execute(
                    update(Station)
                    .where(col(Station.id) == station_id)
                    .values(diagnostics_status=status)
                )
            await record(session, station_id, kind, **data)

    async def upload_received(
        self,
        upload_id: int,
        secret_hash: str,
        content: bytes,
        content_type: str | None,
        file_name: str | None,
    ) -> bool:
        """Stores the file if the slot is still open, spending its secret; False if not (spent
        by another upload meanwhile, expired, or never so)."""
        values: dict[str, Any] = {
            "secret_hash": None,
            "content": content,
            "size": len(content),
            "content_type": content_type[:255] if content_type else None,
            "received_at": clock.now(),
        }
        if file_name:
            values["file_name"] = file_name[:255]
        async with self._tx() as session:
            result = await session.execute(
                update(Upload)
                .where(
                    col(Upload.id) == upload_id,
                    col(Upload.secret_hash) == secret_hash,
                    col(Upload.received_at).is_(None),
                    col(Upload.expires_at) > clock.now(),
                )
                .values(**values)
                .returning(col(Upload.station_id))
            )
            station_id = result.scalar_one_or_none()
            if station_id is None:
                return False
            await record(
                session,
                station_id,
                EventType.UPLOAD_RECEIVED,
                upload_id=upload_id,
                size=len(content),
                file_name=file_name,
            )
            return True

    async def forget_uploads(self, older_than: timedelta) -> int:
        """Removes the uploads (files and slots) requested before older_than ago; how many."""
        async with self._tx(events=False) as session:
            result = await session.execute(
                delete(Upload).where(col(Upload.requested_at) < clock.now() - older_than)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def availability(
        self, station_id: str, evse_id: int, operative: bool, connector_id: int | None = None
    ) -> None:
        """Remember an accepted ChangeAvailability (it survives the charger's reboots): of the
        whole charger (EVSE 0), an EVSE, or one connector of it."""
        value = "Operative" if operative else "Inoperative"
        async with self._tx() as session:
            stmt = update(Connector).where(col(Connector.station_id) == station_id)
            if evse_id:
                stmt = stmt.where(col(Connector.evse_id) == evse_id)
            if evse_id and connector_id:
                stmt = stmt.where(col(Connector.connector_id) == connector_id)
            await session.execute(stmt.values(availability=value, updated_at=clock.now()))
            await record(
                session,
                station_id,
                EventType.AVAILABILITY_CHANGED,
                evse_id=evse_id,
                availability=value,
            )

    # -- authorization -------------------------------------------------------------------------

    async def authorization(
        self, station_id: str, id_token: str, token_type: str | None, result: AuthorizationResult
    ) -> None:
        async with self._tx() as session:
            await record(
                session,
                station_id,
                EventType.AUTHORIZATION_REQUESTED,
                id_token=id_token,
                token_type=token_type,
                status=result.status.value,
                reference=result.reference,
            )

    # -- transactions --------------------------------------------------------------------------

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
                _sample_row(s, tx.station_id, tx.id, tx.evse_id)
                if tx
                else _sample_row(s, station_id or "", None, evse_id)
            )
            session.add(MeterSample(**row))
        if tx is None:
            return
        tx.meter_last_wh, tx.meter_last_at = latest_register(
            samples, tx.meter_last_wh, tx.meter_last_at
        )

    async def meter_values(
        self,
        station_id: str,
        evse_id: int,
        transaction_id: int | None,
        samples: list[Sample],
        ocpp_transaction_id: str | None = None,
    ) -> None:
        """MeterValues; linked to the transaction named, else the one open on that EVSE.
        Committed (with the event) when this returns, in a group with others' (csms.writer)."""
        samples = self._samples_within_budget(station_id, samples)
        await self.writer.write(
            self._meter_values,
            MeterValuesWrite(station_id, evse_id, transaction_id, samples, ocpp_transaction_id),
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
_UPDATE_SEEN = (
    update(Station.__table__)  # type: ignore[attr-defined]
    .where(Station.__table__.c.id == bindparam("station"))  # type: ignore[attr-defined]
    .values(last_seen=bindparam("at"))
)
_INSERT_SAMPLES = insert(MeterSample.__table__)  # type: ignore[attr-defined]
_INSERT_EVENTS = insert(Event.__table__)  # type: ignore[attr-defined]
_UPDATE_READING = (
    update(Transaction.__table__)  # type: ignore[attr-defined]
    .where(_T.id == bindparam("tx_id"))
    .values(
        meter_last_wh=bindparam("last_wh"),
        meter_last_at=bindparam("last_at"),
        updated_at=bindparam("now"),
    )
)


class _MeterValuesBatch:
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
        event_rows: list[dict[str, Any]] = []
        announced: list[Announcement | Event] = session.info.setdefault(EVENTS_KEY, [])
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
                _sample_row(s, tx.station_id, tx.id, tx.evse_id)
                if tx
                else _sample_row(s, item.station_id, None, item.evse_id)
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
            event_rows.append(
                {"created_at": now, "station_id": item.station_id, "type": kind, "data": data}
            )
            announced.append(Announcement(item.station_id, kind, data))
        if sample_rows:
            await conn.execute(_INSERT_SAMPLES, sample_rows)
        await hold_event_order(conn)
        await conn.execute(_INSERT_EVENTS, event_rows)
        updates = [
            {"tx_id": tx.id, "last_wh": tx.last_wh, "last_at": tx.last_at, "now": now}
            for tx in known.values()
            if tx.changed
        ]
        if updates:
            await conn.execute(_UPDATE_READING, updates)
        return [None] * len(items)

    @staticmethod
    async def _find(conn: Any, known: dict[int, _Reading], where: Any) -> _Reading | None:
        row = (await conn.execute(_READING.where(where).limit(1))).first()
        if row is None:
            return None
        return known.setdefault(row.id, _Reading(*row))


def _sample_row(
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


def _clipped(samples: list[Sample]) -> tuple[list[Sample], int]:
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
