"""Paginated OCPI lists: offset/limit/date_from/date_to in, X-Total-Count/X-Limit/Link out.

Pages are ordered by creation (the row id), oldest first, as the spec advises: an object that
changes while a client pages keeps its place, and new objects only lengthen the last page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from cpo.ocpi.models import DateTime
from cpo.ocpi.responses import OcpiResponse
from cpo.ocpi.status import invalid

_datetime: TypeAdapter[datetime] = TypeAdapter(DateTime)
# The database's integers are 64-bit: a larger offset or limit cannot even be asked for.
INT64_MAX = (1 << 63) - 1


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int  # the effective page size: the request's, clamped to the server maximum
    max_limit: int
    date_from: datetime | None = None
    date_to: datetime | None = None


def page_of(
    params: Any, max_limit: int, default_limit: int | None = None, date_from_required: bool = False
) -> Page:
    """Reads the query; bad values are OCPI 2001 (HTTP 400: there is no body to be valid)."""

    def integer(name: str, default: int, least: int) -> int:
        raw = params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise invalid(f"{name} must be a whole number, not {raw[:32]!r}", http=400) from None
        if not least <= value <= INT64_MAX:
            raise invalid(f"{name} must be from {least} to {INT64_MAX}", http=400)
        return value

    def moment(name: str) -> datetime | None:
        raw = params.get(name)
        if raw is None or raw == "":
            if name == "date_from" and date_from_required:
                raise invalid("date_from is required", http=400)
            return None
        try:
            return _datetime.validate_python(raw)
        except ValidationError:
            raise invalid(
                f"{name} must be an RFC 3339 date and time, not {raw[:40]!r}", http=400
            ) from None

    offset = integer("offset", 0, least=0)
    limit = integer("limit", default_limit or max_limit, least=1)  # 0 objects is no page
    return Page(
        offset=offset,
        limit=max(1, min(limit, max_limit)),
        max_limit=max_limit,
        date_from=moment("date_from"),
        date_to=moment("date_to"),
    )


def page_headers(url: str, params: Any, page: Page, total: int, returned: int) -> dict[str, str]:
    """X-Total-Count and X-Limit always; Link to the next page (filters kept) when there is one."""
    headers = {"X-Total-Count": str(total), "X-Limit": str(page.max_limit)}
    next_offset = page.offset + returned
    if returned and next_offset < total:
        query = {k: v for k, v in params.items() if k not in ("offset", "limit")}
        query |= {"offset": str(next_offset), "limit": str(page.limit)}
        headers["Link"] = f'<{url}?{urlencode(query)}>; rel="next"'
    return headers


async def fetch_page(
    session: AsyncSession, stmt: Any, page: Page, updated: Any, order: Any
) -> tuple[list[Any], int]:
    """The rows of one page and the number matching the filters (offset and limit aside)."""
    if page.date_from is not None:
        stmt = stmt.where(updated >= page.date_from)
    if page.date_to is not None:
        stmt = stmt.where(updated < page.date_to)
    total = (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    rows = await session.execute(stmt.order_by(col(order)).offset(page.offset).limit(page.limit))
    return list(rows.scalars()), int(total)


async def paged_response(
    request: Any,
    url: str,
    database: Any,
    stmt: Any,
    updated: Any,
    order: Any,
    build: Callable[[AsyncSession, list[Any]], Awaitable[list[Any]]],
    max_limit: int,
    date_from_required: bool = False,
) -> OcpiResponse:
    """A whole paginated list answer: the page's objects, built in the same session, and headers."""
    params = request.query_params
    wanted = page_of(params, max_limit, date_from_required=date_from_required)
    async with database() as session:
        rows, total = await fetch_page(session, stmt, wanted, updated, order)
        data = await build(session, rows)
    return OcpiResponse(data, headers=page_headers(url, params, wanted, total, len(data)))
