"""The log of every OCPI request in and out, per party, written in batches; tokens masked."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.tables import OcpiLogEntry
from csms import clock
from csms.batching import BatchedLog

BODY_MAX = 64 * 1024


def masked(body: bytes | str | None) -> str | None:
    """The body as text, credentials tokens replaced, cut at BODY_MAX characters."""
    if body is None or body in (b"", ""):
        return None
    raw = body if isinstance(body, bytes) else body.encode()
    text = raw.decode(errors="replace")
    if b'"token"' in raw:  # most bodies (pages of Locations...) need no parsing at all
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            if _has_token(value):
                text = orjson.dumps(_mask(value)).decode()
    return text if len(text) <= BODY_MAX else text[:BODY_MAX] + "…(cut)"


def _has_token(value: Any) -> bool:
    return isinstance(value, dict) and (
        "token" in value or (isinstance(value.get("data"), dict) and "token" in value["data"])
    )


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "***" if k == "token" else _mask(v) for k, v in value.items()}
    return value


class RequestLog(BatchedLog):
    name = "ocpi-log"

    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        retention_days: float,
        interval: float = 0.25,
    ) -> None:
        super().__init__(database, OcpiLogEntry, retention_days, interval)

    def append(
        self,
        *,
        party_id: int | None,
        direction: str,
        method: str,
        url: str,
        http_status: int | None = None,
        ocpi_status: int | None = None,
        request_id: str | None = None,
        correlation_id: str | None = None,
        duration_ms: float | None = None,
        request_body: bytes | str | None = None,
        response_body: bytes | str | None = None,
        error: str | None = None,
    ) -> None:
        self._append(
            {
                "created_at": clock.now(),
                "party_id": party_id,
                "direction": direction,
                "method": method,
                "url": url,
                "http_status": http_status,
                "ocpi_status": ocpi_status,
                "request_id": request_id[:64] if request_id else None,
                "correlation_id": correlation_id[:64] if correlation_id else None,
                "duration_ms": round(duration_ms, 2) if duration_ms is not None else None,
                "request_body": masked(request_body),
                "response_body": masked(response_body),
                "error": error,
            }
        )

    async def query(
        self, party_id: int, limit: int = 100, before_id: int | None = None
    ) -> list[OcpiLogEntry]:
        return await self.recent(OcpiLogEntry.party_id, party_id, limit, before_id)
