"""The CSMS's tables: stations, connectors, transactions, meter samples, the event log, the frame
log and the files chargers upload."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects import sqlite
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone (portable to SQLite) and hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)

    def bind_processor(self, dialect: Any) -> Any:
        """On SQLite, `process_bind_param` and SQLite's own DATETIME text in one step: every
        frame, event and sample has a time, and the two steps were a tenth of the group
        commit (ADR 036). The same text (tests/ocpp/test_many_rows.py); any other storage
        format, or another database, takes the two steps."""
        impl = self.impl_instance
        if type(impl) is not sqlite.DATETIME or impl._storage_format != _SQLITE_DATETIME:
            return super().bind_processor(dialect)

        # The last time made text, and its text: a group commit's rows share times (its
        # events' creation, a reading's samples), each made text once. It holds the time, so
        # `is` never meets another object at its address.
        last: tuple[datetime | None, str | None] = (None, None)

        def process(value: datetime | None) -> str | None:
            nonlocal last
            if value is None:
                return None
            known = last
            if known[0] is value:
                return known[1]
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            at = value if value.tzinfo is UTC else value.astimezone(UTC)
            # 'YYYY-MM-DD HH:MM:SS.ffffff+00:00' without its offset.
            text = at.isoformat(" ", "microseconds")[:26]
            last = (value, text)
            return text

        return process


_SQLITE_DATETIME = sqlite.DATETIME._storage_format


# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def ts(nullable: bool = True, **kw: Any) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, **kw))


class Station(SQLModel, table=True):
    __tablename__ = "stations"

    id: str = Field(primary_key=True, max_length=48)
    password_hash: str | None = None
    # A new password the charger was asked to take (csms.commands.security): both count until
    # the charger logs in with the new one, so a lost answer never locks it out.
    pending_password_hash: str | None = None
    ocpp_version: str | None = Field(default=None, max_length=16)
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    # Set once the platform has accepted a BootNotification; a charger that was never accepted
    # gets SecurityError for anything else (OCPP-J 1.6 errata 3.8), one that was may reconnect
    # without booting again.
    accepted_at: datetime | None = ts()
    online: bool = False
    last_seen: datetime | None = ts()
    connected_at: datetime | None = ts()
    disconnected_at: datetime | None = ts()
    # Which connection holds the station (csms.registry): each connect takes a larger one, and
    # a disconnect marks the station offline only if it is still its connection's.
    connection_epoch: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # 1.6 connector 0 / 2.0.1 EVSE 0: the charger as a whole.
    status: str | None = None
    error_code: str | None = None
    status_at: datetime | None = ts()
    firmware_status: str | None = None
    diagnostics_status: str | None = None
    # Per-model meter quirk: a charger that labels kWh readings as Wh (digest quirk 1).
    energy_unit_override: str | None = None
    # The lowest OCPP security profile it may connect with (1: Basic auth, over TLS or not;
    # 2: Basic auth over TLS; 3: a client certificate). Raised by the upgrade command once the
    # charger took the new profile; lowered only by the operator (csms.security_profiles).
    security_profile: int = Field(
        default=1, sa_column=Column(Integer, nullable=False, server_default="1")
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Connector(SQLModel, table=True):
    """One connector of one EVSE. A 1.6 connector N is EVSE N with connector 1."""

    __tablename__ = "connectors"

    station_id: str = Field(primary_key=True, foreign_key="stations.id", max_length=48)
    evse_id: int = Field(primary_key=True)
    connector_id: int = Field(primary_key=True)
    # Version-neutral (the 2.0.1 words): Available, Occupied, Reserved, Unavailable, Faulted.
    status: str | None = None
    # The finer 1.6 state (Preparing, Charging, SuspendedEV, ...) when the charger gives one.
    status_detail: str | None = None
    error_code: str | None = None
    info: str | None = None
    vendor_error_code: str | None = None
    status_at: datetime | None = ts()
    availability: str = "Operative"
    updated_at: datetime | None = ts()


class TransactionStatus(enum.StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class Transaction(SQLModel, table=True):
    """A charging transaction. Its id is the platform's own (and the 1.6 transactionId)."""

    __tablename__ = "transactions"
    __table_args__ = (UniqueConstraint("station_id", "ocpp_transaction_id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    station_id: str = Field(foreign_key="stations.id", max_length=48, index=True)
    ocpp_transaction_id: str | None = Field(default=None, max_length=36)
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = Field(default=None, max_length=36)
    id_token_type: str | None = None
    auth_status: str | None = None
    # What the token's owner answered with its decision (OCPI authorization_reference).
    authorization_reference: str | None = Field(default=None, max_length=36)
    started_at: datetime | None = ts()
    ended_at: datetime | None = ts()
    meter_start_wh: float | None = None
    meter_stop_wh: float | None = None
    # The latest billing-register reading, for live sessions.
    meter_last_wh: float | None = None
    meter_last_at: datetime | None = ts()
    stop_reason: str | None = None
    status: str = Field(default=TransactionStatus.ACTIVE, index=True)  # a TransactionStatus
    remote_start_id: int | None = None
    reservation_id: int | None = None
    charging_state: str | None = None
    last_seq_no: int | None = None  # highest 2.0.1 seqNo seen
    seq_seen: int = (
        0  # how many 2.0.1 TransactionEvents arrived; fewer than last_seq_no + 1 = a gap
    )
    offline: bool = False
    clock_suspect: bool = False
    # Open when the charger rebooted: its Stop may still come from the offline queue.
    suspect: bool = False
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class MeterSample(SQLModel, table=True):
    """One sampled value, normalised to base units (Wh, W, A, V, Celsius, Percent, Hz, ...)."""

    __tablename__ = "meter_samples"
    __table_args__ = (Index("ix_meter_samples_tx", "transaction_id", "timestamp"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    station_id: str = Field(max_length=48)
    transaction_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    evse_id: int | None = None
    timestamp: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    measurand: str
    phase: str | None = None
    location: str | None = None
    context: str | None = None
    value: float | None = None
    unit: str | None = None
    signed_data: str | None = Field(default=None, sa_column=Column(Text))


class Event(SQLModel, table=True):
    """The append-only domain event log, read by later stages from a cursor (its id)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_station", "station_id", "id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    station_id: str = Field(max_length=48)
    type: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class MessageLogEntry(SQLModel, table=True):
    """Every OCPP frame in and out, as it was on the wire."""

    __tablename__ = "message_log"
    # No index of the times: the purge walks ids (csms.batching.BatchedLog.purge).
    __table_args__ = (Index("ix_message_log_station", "station_id", "id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    station_id: str = Field(max_length=48)
    direction: str = Field(max_length=3)  # in | out
    message_type: int | None = None
    action: str | None = Field(default=None, max_length=64)
    message_id: str | None = Field(default=None, max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))


class LocalToken(SQLModel, table=True):
    """An id token the operator registered for local authorization."""

    __tablename__ = "local_tokens"
    __table_args__ = (UniqueConstraint("uid", "type"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    uid: str = Field(max_length=36)  # normalised: upper case
    type: str = Field(default="RFID", max_length=16)
    status: str = Field(default="Accepted", max_length=16)  # Accepted | Blocked | Expired
    expires_at: datetime | None = ts()
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Meta(SQLModel, table=True):
    """Small platform facts that must survive restarts (the admin token's hash, cursors, ...)."""

    __tablename__ = "meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str


class Upload(SQLModel, table=True):
    """A file a charger was asked for (GetDiagnostics, GetLog) and the slot it uploads it to:
    the slot's secret is kept hashed and spent by the first upload (csms.uploads)."""

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_station", "station_id", "id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    station_id: str = Field(max_length=48)
    kind: str = Field(
        max_length=32
    )  # Diagnostics (1.6 GetDiagnostics) | DiagnosticsLog | SecurityLog
    requested_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    secret_hash: str | None = Field(default=None, max_length=64)  # None: spent or withdrawn
    # As the charger last said it (its answer, then its status notifications).
    status: str = Field(default="Requested", max_length=32)
    file_name: str | None = Field(default=None, max_length=255)
    content_type: str | None = Field(default=None, max_length=255)
    size: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    received_at: datetime | None = ts()
    content: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
