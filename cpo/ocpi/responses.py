"""The OCPI response envelope, worn by every answer, errors included."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.responses import Response

from cpo.ocpi.status import Status


def timestamp(at: datetime | None = None) -> str:
    """RFC 3339 in UTC with a `Z`, milliseconds: the DateTime form OCPI 2.2.1 asks for."""
    at = (at or datetime.now(UTC)).astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def envelope(
    data: Any = None, status: int = Status.SUCCESS, message: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if data is not None:
        body["data"] = data
    body["status_code"] = int(status)
    if message:
        body["status_message"] = message
    body["timestamp"] = timestamp()
    return body


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return timestamp(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class OcpiResponse(Response):
    media_type = "application/json"

    def __init__(
        self,
        data: Any = None,
        status: int = Status.SUCCESS,
        message: str | None = None,
        http: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.ocpi_status = int(status)
        super().__init__(dumps(envelope(data, status, message)), http, headers)
