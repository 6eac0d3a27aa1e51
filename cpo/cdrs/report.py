"""The CDR report: CDRs by end date, eMSP and Location, their revenue and energy in total and per
day, and the same CDRs as CSV. Queries only; the admin API and the console share them.

A correction is a credit CDR (every amount negated, energy and time as they were) and a new CDR
(cpo.sessions.from_transactions), so revenue adds up as stored and energy counts a credit negatively:
a corrected charge is counted once, as corrected. Amounts of different currencies are never
added together. Days are UTC days of the CDR's end.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from sqlalchemy import Select, Table, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.cdrs.tables import Cdr
from cpo.locations.tables import Location
from cpo.ocpi.responses import timestamp
from cpo.tables import Party

CDRS: Table = Cdr.__table__  # type: ignore[attr-defined]
PARTIES: Table = Party.__table__  # type: ignore[attr-defined]
LOCATIONS: Table = Location.__table__  # type: ignore[attr-defined]

ID_MAX = (1 << 63) - 1  # the database's ids are signed 64-bit integers
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
DENSE_DAYS = 3660  # a longer series lists only the days that have CDRs
BATCH = 500  # CDRs read at a time for the CSV


class BadFilter(ValueError):
    """A filter that names nothing: an unknown party or Location."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _moment(value: Any, end: bool) -> datetime | None:
    """A day (YYYY-MM-DD, the whole day) or an RFC 3339 date-time (UTC unless it says);
    an end is exclusive: `to=2026-05-01` takes in all of that day."""
    if value is None or value == "":
        return None
    if isinstance(value, date):  # a date or datetime from code (the console) rather than text
        value = value.isoformat()
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("must be a date (YYYY-MM-DD) or a date-time (RFC 3339)")
    try:
        if DAY.fullmatch(value):
            day = date.fromisoformat(value)
            at = datetime(day.year, day.month, day.day, tzinfo=UTC)
            if end:
                at += timedelta(days=1)
        else:
            at = datetime.fromisoformat(value)
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise ValueError("must be a date (YYYY-MM-DD) or a date-time (RFC 3339)") from None
    if not EARLIEST <= at <= LATEST:
        raise ValueError("must lie between 1970 and 9000")
    return at.astimezone(UTC)


def _start(value: Any) -> datetime | None:
    return _moment(value, end=False)


def _end(value: Any) -> datetime | None:
    return _moment(value, end=True)


_MOMENT_SCHEMA = WithJsonSchema(
    {"type": "string", "examples": ["2026-05-01", "2026-05-01T12:00:00Z"]}
)


class CdrFilter(BaseModel):
    """Which CDRs: ended within [from, to), of one eMSP, at one Location (each optional)."""

    # By the names a URL or a form uses: CdrFilter.model_validate({"from": ..., "to": ...}).
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: Annotated[datetime | None, BeforeValidator(_start), _MOMENT_SCHEMA] = Field(
        default=None,
        alias="from",
        description="CDRs that ended at or after this: a date (from its start, UTC) or a date-time",
    )
    end: Annotated[datetime | None, BeforeValidator(_end), _MOMENT_SCHEMA] = Field(
        default=None,
        alias="to",
        description="CDRs that ended before this: a date (to its end, UTC) or a date-time",
    )
    party: int | None = Field(
        default=None, ge=1, le=ID_MAX, description="The eMSP's party id (as in GET /parties)"
    )
    location: str | None = Field(
        default=None, min_length=1, max_length=36, description="The Location's OCPI id"
    )

    @model_validator(mode="after")
    def _ordered(self) -> CdrFilter:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("from must come before to")
        return self


class CdrRow(BaseModel):
    """One CDR as the operator reads it."""

    id: str = Field(description="The CDR's OCPI id")
    session_id: str = Field(description="The OCPI Session it bills")
    start_date_time: str
    end_date_time: str
    energy_kwh: float
    duration_hours: float
    currency: str
    cost_excl_vat: float
    cost_incl_vat: float | None = Field(description="None where the tariff gives no VAT")
    party: int | None = Field(description="The owning eMSP's party id; None: the operator's own")
    emsp: str = Field(description="Country code and party id of the token's owner, e.g. NL-EMS")
    emsp_name: str | None
    token_uid: str = Field(description="The driver's token, as its eMSP names it")
    contract_id: str | None
    location_id: str
    location_name: str | None
    evse_uid: str | None
    credit: bool = Field(description="A credit CDR: it cancels another, amounts negated")
    cancels: str | None = Field(description="A credit: the CDR it cancels")
    credited_by: str | None = Field(description="The credit CDR that cancels this one")
    replaces: str | None = Field(description="A reissue: the CDR it replaces")
    replaced_by: str | None = Field(description="The CDR issued in this one's place")


class CdrPage(BaseModel):
    total: int = Field(description="CDRs that match the filter")
    offset: int
    limit: int
    cdrs: list[CdrRow] = Field(description="Newest first (in the order they were made)")


class Revenue(BaseModel):
    currency: str
    cdrs: int
    excl_vat: float
    incl_vat: float | None = Field(description="None when a CDR of these has no VAT amount")


class CdrDay(BaseModel):
    date: str = Field(description="A UTC day, YYYY-MM-DD")
    cdrs: int
    energy_kwh: float
    revenue: list[Revenue] = Field(description="One entry per currency")


class CdrSummary(BaseModel):
    cdrs: int
    energy_kwh: float = Field(description="Credits count negatively")
    revenue: list[Revenue] = Field(description="Per currency, never added across currencies")
    days: list[CdrDay] = Field(
        description="Per day from the first to the last day with a CDR, days without one included"
    )


def _text(*path: str) -> Any:
    return CDRS.c.data[path if len(path) > 1 else path[0]].as_string()


def _number(*path: str) -> Any:
    return CDRS.c.data[path if len(path) > 1 else path[0]].as_float()


END = _text("end_date_time")
CURRENCY = _text("currency")
ENERGY = _number("total_energy")
EXCL = _number("total_cost", "excl_vat")
INCL = _number("total_cost", "incl_vat")
# Credit CDRs have odd revisions (0 the original, then a credit and a reissue per correction).
SIGN = case((CDRS.c.revision % 2 == 1, -1), else_=1)
_ROW = select(
    CDRS.c.id,
    CDRS.c.ocpi_id,
    CDRS.c.session_id,
    CDRS.c.revision,
    CDRS.c.owner_id,
    _text("session_id").label("ocpi_session_id"),
    _text("start_date_time").label("start_date_time"),
    END.label("end_date_time"),
    ENERGY.label("energy_kwh"),
    _number("total_time").label("duration_hours"),
    CURRENCY.label("currency"),
    EXCL.label("cost_excl_vat"),
    INCL.label("cost_incl_vat"),
    _text("cdr_token", "country_code").label("token_country"),
    _text("cdr_token", "party_id").label("token_party"),
    _text("cdr_token", "uid").label("token_uid"),
    _text("cdr_token", "contract_id").label("contract_id"),
    _text("cdr_location", "id").label("location_id"),
    _text("cdr_location", "name").label("location_name"),
    _text("cdr_location", "evse_uid").label("evse_uid"),
    PARTIES.c.name.label("emsp_name"),
).select_from(CDRS.outerjoin(PARTIES, PARTIES.c.id == CDRS.c.owner_id))


class CdrReport:
    def __init__(self, database: async_sessionmaker[AsyncSession]) -> None:
        self.database = database

    async def check(self, where: CdrFilter) -> CdrFilter:
        """The filter with its Location id as stored (ids are case-blind); BadFilter when it
        names a party or Location that does not exist."""
        async with self.database() as session:
            if where.party is not None:
                found = await session.scalar(
                    select(PARTIES.c.id).where(PARTIES.c.id == where.party)
                )
                if found is None:
                    raise BadFilter("party", f"no party {where.party}")
            if where.location is not None:
                pattern = where.location.replace("%", r"\%").replace("_", r"\_")
                ocpi_id = await session.scalar(
                    select(LOCATIONS.c.ocpi_id).where(
                        LOCATIONS.c.ocpi_id.ilike(pattern, escape="\\")
                    )
                )
                if ocpi_id is None:
                    raise BadFilter("location", f"no location {where.location}")
                where = where.model_copy(update={"location": ocpi_id})
        return where

    async def page(self, where: CdrFilter, offset: int = 0, limit: int = 100) -> CdrPage:
        where = await self.check(where)
        async with self.database() as session:
            total = await session.scalar(_filtered(select(func.count()).select_from(CDRS), where))
            rows = list(
                await session.execute(
                    _filtered(_ROW, where).order_by(CDRS.c.id.desc()).offset(offset).limit(limit)
                )
            )
            cdrs = await _rows(session, rows)
        return CdrPage(total=int(total or 0), offset=offset, limit=limit, cdrs=cdrs)

    async def cdr(self, ocpi_id: str) -> tuple[CdrRow, dict[str, Any]] | None:
        """One CDR as a row of the report (with its links), and the OCPI CDR as it was sent."""
        async with self.database() as session:
            rows = list(
                await session.execute(
                    _ROW.add_columns(CDRS.c.data.label("cdr")).where(CDRS.c.ocpi_id == ocpi_id)
                )
            )
            if not rows:
                return None
            (row,) = await _rows(session, rows)
        return row, rows[0].cdr

    async def summary(self, where: CdrFilter) -> CdrSummary:
        where = await self.check(where)
        # Grouped outside: PostgreSQL does not take a parameterised expression in SELECT for
        # the same one in GROUP BY.
        each = _filtered(
            select(
                func.substr(END, 1, 10).label("day"),
                CURRENCY.label("currency"),
                (ENERGY * SIGN).label("energy"),
                EXCL.label("excl"),
                INCL.label("incl"),
            ).select_from(CDRS),
            where,
        ).subquery()
        grouped = select(
            each.c.day,
            each.c.currency,
            func.count().label("cdrs"),
            func.sum(each.c.energy).label("energy"),
            func.sum(each.c.excl).label("excl"),
            func.sum(each.c.incl).label("incl"),
            func.count(each.c.incl).label("with_incl"),
        ).group_by(each.c.day, each.c.currency)
        async with self.database() as session:
            groups = list(await session.execute(grouped))
        return _summary(groups)

    async def csv(self, where: CdrFilter) -> AsyncIterator[str]:
        """The CSV, a batch of CDRs at a time (oldest first), each batch read in a short
        transaction of its own: a large export holds neither memory nor the database."""
        where = await self.check(where)
        return self._csv(where)

    async def _csv(self, where: CdrFilter) -> AsyncIterator[str]:
        yield _csv_lines([list(CdrRow.model_fields)])
        after = 0
        while True:
            async with self.database() as session:
                rows = list(
                    await session.execute(
                        _filtered(_ROW, where)
                        .where(CDRS.c.id > after)
                        .order_by(CDRS.c.id)
                        .limit(BATCH)
                    )
                )
                cdrs = await _rows(session, rows)
            if not rows:
                return
            yield _csv_lines([[_cell(v) for v in c.model_dump().values()] for c in cdrs])
            after = rows[-1].id


def _filtered(statement: Select[Any], where: CdrFilter) -> Select[Any]:
    # Timestamps are stored as timestamp() writes them (fixed width, UTC, `Z`): as strings
    # they compare in time order.
    if where.start is not None:
        statement = statement.where(END >= timestamp(where.start))
    if where.end is not None:
        statement = statement.where(END < timestamp(where.end))
    if where.party is not None:
        statement = statement.where(CDRS.c.owner_id == where.party)
    if where.location is not None:
        statement = statement.where(_text("cdr_location", "id") == where.location)
    return statement


async def _rows(session: AsyncSession, rows: Sequence[Any]) -> list[CdrRow]:
    """The rows with their links to the other CDRs of the same session."""
    chains: dict[tuple[int, int], str] = {}
    if rows:
        found = await session.execute(
            select(CDRS.c.session_id, CDRS.c.revision, CDRS.c.ocpi_id).where(
                CDRS.c.session_id.in_({r.session_id for r in rows})
            )
        )
        chains = {(s, revision): ocpi_id for s, revision, ocpi_id in found}

    def link(row: Any, revision: int) -> str | None:
        return chains.get((row.session_id, revision)) if revision >= 0 else None

    out = []
    for r in rows:
        credit = r.revision % 2 == 1
        out.append(
            CdrRow(
                id=r.ocpi_id,
                session_id=r.ocpi_session_id or "",
                start_date_time=r.start_date_time or "",
                end_date_time=r.end_date_time or "",
                energy_kwh=r.energy_kwh or 0.0,
                duration_hours=r.duration_hours or 0.0,
                currency=r.currency or "",
                cost_excl_vat=r.cost_excl_vat or 0.0,
                cost_incl_vat=r.cost_incl_vat,
                party=r.owner_id,
                emsp=f"{r.token_country or ''}-{r.token_party or ''}",
                emsp_name=r.emsp_name or None,
                token_uid=r.token_uid or "",
                contract_id=r.contract_id,
                location_id=r.location_id or "",
                location_name=r.location_name,
                evse_uid=r.evse_uid,
                credit=credit,
                cancels=link(r, r.revision - 1) if credit else None,
                credited_by=None if credit else link(r, r.revision + 1),
                replaces=None if credit else link(r, r.revision - 2),
                replaced_by=None if credit else link(r, r.revision + 2),
            )
        )
    return out


def _summary(groups: Sequence[Any]) -> CdrSummary:
    by_day: dict[str, list[Any]] = {}
    for g in groups:
        by_day.setdefault(g.day, []).append(g)
    days = [
        CdrDay(
            date=day,
            cdrs=sum(g.cdrs for g in found),
            energy_kwh=_round(sum(g.energy or 0.0 for g in found)),
            revenue=_revenue(found),
        )
        for day, found in sorted(by_day.items())
    ]
    return CdrSummary(
        cdrs=sum(g.cdrs for g in groups),
        energy_kwh=_round(sum(g.energy or 0.0 for g in groups)),
        revenue=_revenue(groups),
        days=_dense(days),
    )


def _revenue(groups: Sequence[Any]) -> list[Revenue]:
    per: dict[str, list[Any]] = {}
    for g in groups:
        per.setdefault(g.currency or "", []).append(g)
    return [
        Revenue(
            currency=currency,
            cdrs=sum(g.cdrs for g in found),
            excl_vat=_round(sum(g.excl or 0.0 for g in found)),
            incl_vat=_round(sum(g.incl or 0.0 for g in found))
            if all(g.with_incl == g.cdrs for g in found)
            else None,
        )
        for currency, found in sorted(per.items())
    ]


def _dense(days: list[CdrDay]) -> list[CdrDay]:
    """Every day from the first to the last, those without CDRs at zero (for a chart)."""
    try:
        first, last = date.fromisoformat(days[0].date), date.fromisoformat(days[-1].date)
    except (IndexError, ValueError):
        return days
    if (last - first).days > DENSE_DAYS:
        return days
    have = {d.date: d for d in days}
    out = []
    for n in range((last - first).days + 1):
        key = (first + timedelta(days=n)).isoformat()
        out.append(have.get(key) or CdrDay(date=key, cdrs=0, energy_kwh=0.0, revenue=[]))
    return out


def _round(value: float) -> float:
    return round(value, 4) + 0.0  # + 0.0: no "-0.0" when credits cancel everything


# A spreadsheet runs a cell that begins with one of these as a formula (CSV injection): text
# that an eMSP or a charger chose is written with a leading apostrophe instead.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv_lines(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


async def encoded(lines: AsyncIterator[str]) -> AsyncIterator[bytes]:
    """The CSV's text as the bytes of an answer (UTF-8), a batch at a time."""
    async for line in lines:
        yield line.encode()
        await asyncio.sleep(0)  # a large export shares the event loop
