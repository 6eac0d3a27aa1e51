"""One Core statement run for many rows straight on SQLite's inline driver: the group commit's
rows without SQLAlchemy's per-row machinery.

SQLAlchemy's executemany builds, for every row, a parameter list from the row's dict and runs
each value through its type's bind processor inside an execution context made per statement;
under the meter-values load that was a third of the group commit's time, more than SQLite's
own work (bench/RESULTS.md, ADR 036). Here the statement is compiled once per dialect and
set of keys, the values are taken from the rows column by column (in C: itemgetter, zip,
map), and only the columns whose type has a bind processor go through it: the processor
SQLAlchemy itself would apply (`dialect_impl(...).bind_processor`), so the stored bytes are
the same (tests/ocpp/test_many_rows.py holds the two to it).

Only the write connection of an SQLite file runs statements inline (csms.inline_sqlite);
any other connection (PostgreSQL, a database in memory) gets SQLAlchemy's executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from csms import inline_sqlite


class _Plan:
    __slots__ = ("sql", "values", "processors")

    def __init__(self, statement: Any, dialect: Dialect, keys: tuple[str, ...]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        names: Sequence[str] = compiled.positiontup or ()
        self.sql: str = compiled.string
        # Columns the rows leave out whose Python-side default SQLAlchemy fills in per row
        # (a scalar, or a function of no context: the models' defaults are).
        defaults = {
            column.key: column.default
            for column in (*compiled.insert_prefetch, *compiled.update_prefetch)
            if column.key not in keys
        }
        for default in defaults.values():
            if not (default.is_scalar or default.is_callable):
                raise ValueError(f"{default!r}: give the column in the rows")
        # A row's values in the statement's order: (value,) for one, a tuple for several.
        getter = itemgetter(*names)
        self.values: Callable[[dict[str, Any]], Any] = (
            (lambda row: (getter(row),)) if len(names) == 1 else getter
        )
        if defaults:
            given = self.values

            def with_defaults(row: dict[str, Any]) -> Any:
                filled = {k: d.arg if d.is_scalar else d.arg(None) for k, d in defaults.items()}
                return given(row | filled)

            self.values = with_defaults
        self.processors: list[tuple[int, Callable[[Any], Any]]] = []
        for index, name in enumerate(names):
            kind = compiled.binds[name].type
            processor = kind.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.processors.append((index, processor))

    def parameters(self, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        values = list(map(self.values, rows))
        if not self.processors:
            return values
        columns = list(zip(*values, strict=True))
        for index, processor in self.processors:
            columns[index] = tuple(map(processor, columns[index]))
        return list(zip(*columns, strict=True))


class ManyRows:
    """`await conn.execute(statement, rows)`, for many rows whose dicts all have the same keys
    (the statement's bind names: an INSERT's column keys, an UPDATE's bindparams)."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan] = {}

    async def execute(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        driver = None
        if conn.dialect.name == "sqlite":
            driver = (await conn.get_raw_connection()).driver_connection
        if not isinstance(driver, inline_sqlite.Connection):
            await conn.execute(self.statement, rows)
            return
        keys = tuple(rows[0])
        plan = self._plans.get((conn.dialect.name, keys))
        if plan is None:
            plan = self._plans[conn.dialect.name, keys] = _Plan(self.statement, conn.dialect, keys)
        cursor = driver.cursor()
        try:
            await cursor.executemany(plan.sql, plan.parameters(rows))
        finally:
            await cursor.close()
