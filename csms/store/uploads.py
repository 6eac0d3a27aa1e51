"""The files a charger is asked to upload (csms.uploads): their slots and what came of them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import col, select

from csms import clock
from csms.events import EventType, record
from csms.models import Station, Upload
from csms.store.base import StoreBase


class Uploads(StoreBase):
    """Upload slots: requested, answered, reported on, received, forgotten."""

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
