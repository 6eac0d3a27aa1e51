"""Version-neutral domain events, appended to the event log in the same database transaction as the state they describe."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from csms import metrics
from csms.budget import cut_fields, json_size
from csms.many_rows import ManyRows
from csms.models import Event


class EventType(StrEnum):
    STATION_CONNECTED = "StationConnected"
    STATION_DISCONNECTED = "StationDisconnected"
    STATION_BOOTED = "StationBooted"
    CONNECTOR_STATUS_CHANGED = "ConnectorStatusChanged"
    STATION_STATUS_CHANGED = "StationStatusChanged"
    AUTHORIZATION_REQUESTED = "AuthorizationRequested"
    TRANSACTION_STARTED = "TransactionStarted"
    TRANSACTION_UPDATED = "TransactionUpdated"
    TRANSACTION_ENDED = "TransactionEnded"
    METER_VALUES_SAMPLED = "MeterValuesSampled"
    FIRMWARE_STATUS = "FirmwareStatusChanged"
    FIRMWARE_PUBLISH_STATUS = "FirmwarePublishStatusChanged"
    PLUG_AND_CHARGE = "PlugAndChargeRequested"
    DIAGNOSTICS_STATUS = "DiagnosticsStatusChanged"
    LOG_STATUS = "LogStatusChanged"
    SECURITY_EVENT = "SecurityEventReported"
    DATA_TRANSFER = "DataTransferReceived"
    REPORT_RECEIVED = "ReportReceived"
    EVENT_NOTIFIED = "EventNotified"
    RESERVATION_STATUS = "ReservationStatusChanged"
    AVAILABILITY_CHANGED = "AvailabilityChanged"
    PASSWORD_CHANGED = "PasswordChanged"
    DISPLAY_MESSAGES = "DisplayMessagesReported"
    MONITORING_REPORT = "MonitoringReported"
    CUSTOMER_INFORMATION = "CustomerInformationReported"
    CHARGING_PROFILES = "ChargingProfilesReported"
    CHARGING_LIMIT = "ChargingLimitChanged"
    # The platform's own record of what a charger holds changed (a profile it accepted, or
    # a clear it accepted): what the charger will follow on an EVSE may have changed with it.
    CHARGING_PROFILE_CHANGED = "ChargingProfileChanged"
    EV_CHARGING_NEEDS = "EVChargingNeedsReported"
    UPLOAD_RECEIVED = "UploadReceived"
    CERTIFICATE_ISSUED = "CertificateIssued"
    CERTIFICATE_REFUSED = "CertificateRefused"
    CERTIFICATE_DELIVERED = "CertificateDelivered"
    CERTIFICATES_REPORTED = "CertificatesReported"
    CERTIFICATE_DELETED = "CertificateDeleted"
    PROVISIONED = "StationProvisioned"


EVENTS_KEY = "csms.events"
# Bytes of one event's data: what a charger says beside its state (DataTransfer data, a
# NotifyReport's variables, ...) can be as long as a frame; the event log keeps every event
# for ever and the projection reads it, so larger values are cut (the message log has more).
EVENT_DATA_MAX = 16 * 1024


# The advisory lock that puts the event log in commit order on PostgreSQL ("cpoe" in ASCII).
EVENT_ORDER_LOCK = 0x63706F65
_ORDERED = "csms.events.ordered"  # the transaction that holds it, in the connection's info


async def hold_event_order(conn: AsyncConnection) -> None:
    """Call before a transaction inserts events: they then commit in id order.

    Readers follow the log by id (`id > cursor`). On PostgreSQL a sequence hands out ids as
    rows are inserted, not as they commit: a transaction could commit event N+1 while N's is
    still open, and a reader that saw N+1 would never go back for N. So each transaction that
    inserts events first takes a transaction-level advisory lock, held until it commits or
    rolls back: the next one draws its ids only after the previous one is visible. SQLite
    takes one writer at a time already (ADR 001).

    The csms's transactions take it at their start (`Store._tx`, the group writer), before
    any row lock: one that held a row while it waited here could deadlock with the holder
    waiting for that row. Each insert of events calls it too, a no-op once held."""
    if conn.dialect.name != "postgresql":
        return
    assert conn.sync_connection is not None
    transaction = conn.sync_connection.get_transaction()
    if transaction is not None and conn.info.get(_ORDERED) is transaction:
        return  # taken earlier in this transaction
    await conn.execute(select(func.pg_advisory_xact_lock(EVENT_ORDER_LOCK)))
    conn.info[_ORDERED] = conn.sync_connection.get_transaction()


async def record(session: AsyncSession, station_id: str, kind: EventType, /, **data: Any) -> Event:
    """Add an event to the session; it commits, or not, with the state change beside it."""
    await hold_event_order(await session.connection())
    event = Event(station_id=station_id, type=kind.value, data=event_data(data))
    session.add(event)
    session.info.setdefault(EVENTS_KEY, []).append(event)
    return event


def event_data(data: dict[str, Any]) -> dict[str, Any]:
    """An event's data as stored: JSON values, no None, cut past EVENT_DATA_MAX."""
    data = _jsonable(data)
    if json_size(data) > EVENT_DATA_MAX:
        data = cut_fields(data, EVENT_DATA_MAX)
        metrics.stored_cut("events", "size").inc()
    return data


def only_readings(kind: str, data: dict[str, Any]) -> bool:
    """Whether an event brings a transaction nothing but meter readings (whose Session's
    rebuild may wait): 1.6 MeterValues, a 2.0.1 TransactionEvent(Updated) naming no token."""
    if kind == EventType.METER_VALUES_SAMPLED:
        return True
    return (
        kind == EventType.TRANSACTION_UPDATED
        and data.get("event_type") == "Updated"
        and "id_token" not in data
    )


@dataclass(frozen=True, slots=True)
class Announcement:
    """A committed event as the feed tells it, for writes that insert events in bulk without
    making an `Event` object for each (listeners read `station_id`, `type` and `data`)."""

    station_id: str
    type: str
    data: dict[str, Any]


_INSERT_EVENTS = ManyRows(insert(Event.__table__))  # type: ignore[attr-defined]


class NewEvents:
    """Events a batch of the group commit records as rows, without an `Event` object each:
    inserted in one statement, announced once the transaction has committed (the writer
    publishes what the session's EVENTS_KEY holds)."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.now = now
        self._rows: list[dict[str, Any]] = []
        self._announced: list[Event | Announcement] = session.info.setdefault(EVENTS_KEY, [])

    def add(self, station_id: str, kind: str, data: dict[str, Any]) -> None:
        self._rows.append(
            {"created_at": self.now, "station_id": station_id, "type": kind, "data": data}
        )
        self._announced.append(Announcement(station_id, kind, data))

    async def insert(self, conn: AsyncConnection) -> None:
        if self._rows:
            await hold_event_order(conn)
            await _INSERT_EVENTS.execute(conn, self._rows)


class EventFeed:
    """Announces committed events to in-process listeners, so they wake instead of polling.

    The event log in the database stays the truth: a listener that misses an announcement
    (it subscribed late, the process restarted) reads the log from its cursor.
    """

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[Event | Announcement]] = set()

    def subscribe(self) -> asyncio.Queue[Event | Announcement]:
        queue: asyncio.Queue[Event | Announcement] = asyncio.Queue()
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event | Announcement]) -> None:
        self._queues.discard(queue)

    def publish(self, events: list[Event | Announcement]) -> None:
        for queue in self._queues:
            for event in events:
                queue.put_nowait(event)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
