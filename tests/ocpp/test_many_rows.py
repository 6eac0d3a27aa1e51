"""The group commit's rows straight to SQLite's driver (csms.many_rows) store the very values
SQLAlchemy's executemany stores: the same statement, the same bind processors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, insert, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from cpo.schema import migrate
from csms.db import make_database, make_engine
from csms.many_rows import ManyRows
from csms.models import (
    Connector,
    Event,
    MessageLogEntry,
    MeterSample,
    Station,
    Transaction,
    UTCDateTime,
)

SAMPLES = MeterSample.__table__  # type: ignore[attr-defined]
EVENTS = Event.__table__  # type: ignore[attr-defined]
LOG = MessageLogEntry.__table__  # type: ignore[attr-defined]
TRANSACTIONS = Transaction.__table__  # type: ignore[attr-defined]
CONNECTORS = Connector.__table__  # type: ignore[attr-defined]

PARIS = timezone(timedelta(hours=1))
TEXT = st.text(max_size=40)
WHEN = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.just(UTC)
) | st.datetimes(timezones=st.just(PARIS), min_value=datetime(1970, 1, 2))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | TEXT
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


def sample(station: str, when: datetime, value: float | None, text: str | None) -> dict[str, Any]:
    return {
        "station_id": station,
        "transaction_id": None,
        "evse_id": 1,
        "timestamp": when,
        "measurand": "Energy.Active.Import.Register",
        "phase": text,
        "location": None,
        "context": "Sample.Periodic",
        "value": value,
        "unit": "Wh",
        "signed_data": text,
    }


async def stored(conn: AsyncConnection, table: str) -> list[tuple[Any, ...]]:
    """Every row as SQLite holds it (its types as stored), but the id (connectors have none)."""
    if table == "connectors":
        order, skip = "station_id, evse_id, connector_id", 0
    else:
        order, skip = "id", 1
    rows = (await conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY {order}")).all()
    return [(tuple(row)[skip:], tuple(type(v).__name__ for v in row)) for row in rows]


@pytest.fixture
async def url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'csms.db'}"
    await migrate(url)
    return url


async def both_ways(url: str, table: Any, statement: Any, rows: list[dict[str, Any]]) -> None:
    """The rows into a fresh table each way, then the stored rows compared."""
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(table.delete())
            await ManyRows(statement).execute(conn, rows)
            ours = await stored(conn, table.name)
            await conn.execute(table.delete())
            await conn.execute(statement, rows)
            theirs = await stored(conn, table.name)
            await conn.rollback()
    finally:
        await engine.dispose()
    assert ours == theirs
    assert len(ours) == len(rows)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(TEXT, WHEN, st.floats(allow_nan=False) | st.none(), TEXT | st.none()),
        min_size=1,
        max_size=5,
    )
)
async def test_samples_are_stored_as_sqlalchemy_stores_them(
    url: str, rows: list[tuple[str, datetime, float | None, str | None]]
) -> None:
    await both_ways(url, SAMPLES, insert(SAMPLES), [sample(*row) for row in rows])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.lists(st.dictionaries(TEXT, JSON, max_size=4), min_size=1, max_size=4), when=WHEN)
async def test_events_and_their_json_are_stored_as_sqlalchemy_stores_them(
    url: str, data: list[dict[str, Any]], when: datetime
) -> None:
    rows = [
        {"created_at": when, "station_id": "CP-1", "type": "MeterValuesSampled", "data": d}
        for d in data
    ]
    await both_ways(url, EVENTS, insert(EVENTS), rows)


async def test_a_column_the_rows_leave_out_gets_its_default_as_in_sqlalchemy(url: str) -> None:
    """A new connector's row gives no availability: the model's default fills it, per row."""
    engine = make_engine(url)
    try:
        async with make_database(engine).begin() as session:
            session.add(Station(id="CP-1"))
        when = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
        rows = [
            {"station_id": "CP-1", "evse_id": n, "connector_id": 1, "status": "Available",
             "status_at": when, "updated_at": when}
            for n in (1, 2)
        ]  # fmt: skip
        await both_ways(url, CONNECTORS, insert(CONNECTORS), rows)
        async with engine.begin() as conn:
            await ManyRows(insert(CONNECTORS)).execute(conn, rows)
            availability = (
                await conn.exec_driver_sql("SELECT DISTINCT availability FROM connectors")
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in availability] == [("Operative",)]


async def test_message_log_rows_and_an_update_are_stored_alike(url: str) -> None:
    now = datetime(2026, 12, 4, 23, 0, 0, 123456, tzinfo=UTC)
    frames = [
        {
            "created_at": now + timedelta(microseconds=n),
            "station_id": "CP-Ü",
            "direction": "in" if n % 2 else "out",
            "message_type": 2 if n % 2 else None,
            "action": "MeterValues" if n % 2 else None,
            "message_id": f"id-{n}",
            "payload": '[2,"x","MeterValues",{"é":1}]',
        }
        for n in range(4)
    ]
    await both_ways(url, LOG, insert(LOG), frames)
    # One column alone (a one-item key) takes its own path through the plan.
    await both_ways(url, LOG, insert(LOG), [{**frames[0], "payload": "\x00 \ud7ff"}])

    engine = make_engine(url)
    try:
        async with make_database(engine).begin() as session:
            session.add(Station(id="CP-1"))
            await session.flush()
            session.add_all([Transaction(station_id="CP-1", started_at=now) for _ in range(2)])
        async with engine.begin() as conn:
            ids = [r[0] for r in await conn.exec_driver_sql("SELECT id FROM transactions")]
            statement = (
                update(TRANSACTIONS)
                .where(TRANSACTIONS.c.id == bindparam("tx_id"))
                .values(meter_last_wh=bindparam("wh"), meter_last_at=bindparam("at"))
            )
            moves = [{"tx_id": i, "wh": 10.5 * i, "at": now.astimezone(PARIS)} for i in ids]
            await ManyRows(statement).execute(conn, moves)
            ours = await stored(conn, "transactions")
            moved = (
                await conn.exec_driver_sql(
                    "SELECT meter_last_wh, meter_last_at FROM transactions ORDER BY id"
                )
            ).all()
            await conn.execute(statement, [{**m, "wh": 0.0, "at": now} for m in moves])
            await conn.execute(statement, moves)
            theirs = await stored(conn, "transactions")
            await conn.rollback()
    finally:
        await engine.dispose()
    assert ours == theirs
    assert [tuple(row) for row in moved] == [(10.5 * i, "2026-12-04 23:00:00.123456") for i in ids]


async def test_a_naive_time_is_refused_as_sqlalchemy_refuses_it(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            naive = sample("CP-1", datetime(2026, 1, 1), 1.0, None)
            with pytest.raises(ValueError, match="naive datetime"):
                await ManyRows(insert(SAMPLES)).execute(conn, [naive])
            assert await stored(conn, "meter_samples") == []
            await conn.rollback()
    finally:
        await engine.dispose()


@given(when=WHEN | st.datetimes(timezones=st.timezones()) | st.none())
def test_a_time_on_sqlite_is_the_text_of_the_two_steps_it_fuses(when: datetime | None) -> None:
    dialect = sqlite.dialect()
    fused = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    two_steps = sqlite.DATETIME().bind_processor(dialect)
    assert fused is not None and two_steps is not None
    try:
        expected = two_steps(UTCDateTime().process_bind_param(when, dialect))
    except OverflowError:  # past year 9999 or before year 1 in UTC
        with pytest.raises(OverflowError):
            fused(when)
        return
    assert fused(when) == expected
    with pytest.raises(ValueError, match="naive datetime"):
        fused(datetime(2026, 12, 4, 23, 0))
