"""Files the operator asks a charger for: GetDiagnostics (OCPP 1.6) and GetLog (the 1.6
security extension, 2.0.1).

Each request opens an upload slot on the platform (csms.uploads) and gives the charger its URL,
which carries the slot's one-time secret; the charger uploads there by HTTP and reports its
progress in DiagnosticsStatusNotification / LogStatusNotification. GetLog's requestId is the
slot's id, so that those notifications name the upload they are about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from pydantic import Field

from csms import clock, uploads
from csms.commands.port import (
    INT32_MAX,
    Command,
    CommandInputError,
    CommandResult,
    answered,
    implements,
)

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store

RETRIES_MAX = 100
RETRY_INTERVAL_MAX = 24 * 3600


class GetDiagnostics(Command):
    """The charger's diagnostics file (OCPP 1.6), uploaded to the platform."""

    name = "get_diagnostics"
    start_time: datetime | None = Field(default=None, description="Oldest data wanted")
    stop_time: datetime | None = Field(default=None, description="Newest data wanted")
    retries: int | None = Field(default=None, ge=0, le=RETRIES_MAX)
    retry_interval: int | None = Field(default=None, ge=0, le=RETRY_INTERVAL_MAX)


class GetLog(Command):
    """A log of the charger (2.0.1, or 1.6 with the security extension), uploaded to the
    platform."""

    name = "get_log"
    log_type: Literal["DiagnosticsLog", "SecurityLog"] = "DiagnosticsLog"
    oldest: datetime | None = Field(default=None, description="Oldest entry wanted")
    latest: datetime | None = Field(default=None, description="Newest entry wanted")
    retries: int | None = Field(default=None, ge=0, le=RETRIES_MAX)
    retry_interval: int | None = Field(default=None, ge=0, le=RETRY_INTERVAL_MAX)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else _utc(value).isoformat().replace("+00:00", "Z")


def _window(start: datetime | None, stop: datetime | None) -> None:
    if start is not None and stop is not None and _utc(start) > _utc(stop):
        raise CommandInputError("the window ends before it begins")


async def _slot(conn: StationConnection, store: Store, kind: str) -> tuple[int, str]:
    """A new upload slot for the charger, and the URL it uploads to."""
    secret, hashed = uploads.new_secret()
    expires = clock.now() + timedelta(seconds=conn.config.upload_slot_seconds)
    upload_id = await store.upload_requested(conn.station_id, kind, hashed, expires)
    return upload_id, f"{conn.config.upload_url.rstrip('/')}/{upload_id}/{secret}"


async def _answered(
    store: Store, upload_id: int, reply: Any, status: str | None, file_name: str | None
) -> CommandResult:
    result = answered(reply, status=status)
    taken = status in (None, "Accepted", "AcceptedCanceled")
    if status is None and not file_name:
        status = "NoFile"  # 1.6 GetDiagnostics: no diagnostics to send
        taken = False
    await store.upload_answered(upload_id, status or "Accepted", file_name, withdrawn=not taken)
    result.data["upload_id"] = upload_id
    return result


@implements(GetDiagnostics, "1.6")
async def get_diagnostics_16(
    conn: StationConnection, store: Store, command: GetDiagnostics, timeout: float | None
) -> CommandResult:
    _window(command.start_time, command.stop_time)
    upload_id, location = await _slot(conn, store, uploads.DIAGNOSTICS)
    request = call16.GetDiagnostics(
        location=location,
        retries=command.retries,
        retry_interval=command.retry_interval,
        start_time=_iso(command.start_time),
        stop_time=_iso(command.stop_time),
    )
    reply = await conn.call(request, timeout)
    return await _answered(store, upload_id, reply, None, reply.file_name)


def _log_request(command: GetLog, upload_id: int, location: str) -> dict[str, Any]:
    if upload_id > INT32_MAX:
        raise CommandInputError("upload ids have outgrown OCPP's 32-bit requestId")
    log = {"remote_location": location}
    if command.oldest is not None:
        log["oldest_timestamp"] = _iso(command.oldest) or ""
    if command.latest is not None:
        log["latest_timestamp"] = _iso(command.latest) or ""
    return {
        "log": log,
        "log_type": command.log_type,
        "request_id": upload_id,
        "retries": command.retries,
        "retry_interval": command.retry_interval,
    }


@implements(GetLog, "1.6")
async def get_log_16(
    conn: StationConnection, store: Store, command: GetLog, timeout: float | None
) -> CommandResult:
    _window(command.oldest, command.latest)
    upload_id, location = await _slot(conn, store, command.log_type)
    reply = await conn.call(call16.GetLog(**_log_request(command, upload_id, location)), timeout)
    return await _answered(store, upload_id, reply, str(reply.status), reply.filename)


@implements(GetLog, "2.0.1")
async def get_log_201(
    conn: StationConnection, store: Store, command: GetLog, timeout: float | None
) -> CommandResult:
    _window(command.oldest, command.latest)
    upload_id, location = await _slot(conn, store, command.log_type)
    reply = await conn.call(call201.GetLog(**_log_request(command, upload_id, location)), timeout)
    return await _answered(store, upload_id, reply, str(reply.status), reply.filename)
