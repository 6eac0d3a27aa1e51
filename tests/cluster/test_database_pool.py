"""The PostgreSQL pool keeps the connections it opened, with the statements prepared on them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from csms.db import make_engine
from tests.helpers.databases import postgres_url


async def test_a_burst_of_work_leaves_its_connections_open_for_the_next(tmp_path: Path) -> None:
    # An "overflow" connection was closed when handed back: the next burst opened new ones,
    # each handshaking and preparing every statement again (a round trip each).
    engine = make_engine(postgres_url(tmp_path))
    held, all_in = asyncio.Event(), asyncio.Event()
    inside: set[int] = set()
    try:

        async def backend() -> int:
            async with engine.connect() as conn:
                pid = int((await conn.execute(select(func.pg_backend_pid()))).scalar_one())
                inside.add(pid)
                if len(inside) == 20:
                    all_in.set()
                await held.wait()
                return pid

        async def burst() -> set[int]:
            held.clear()
            all_in.clear()
            inside.clear()
            tasks = [asyncio.create_task(backend()) for _ in range(20)]
            await all_in.wait()  # twenty connections at once
            held.set()
            return set(await asyncio.gather(*tasks))

        first = await asyncio.wait_for(burst(), 60)
        assert len(first) == 20
        assert engine.pool.checkedin() == 20  # type: ignore[attr-defined]
        assert await asyncio.wait_for(burst(), 60) == first
    finally:
        await engine.dispose()
