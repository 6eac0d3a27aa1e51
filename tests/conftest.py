"""Fixtures: the real platform on a free loopback port, with a SQLite file of its own, or
just the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.database import migrate
from csms.db import make_engine, make_sessions
from tests.platform import Platform


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    p = await Platform(tmp_path).start()
    try:
        yield p
    finally:
        await p.stop()


@pytest.fixture
async def quick_platform(tmp_path: Path) -> AsyncIterator[Platform]:
    """The platform with short waits: pushes retried within 0.2 s, eMSPs given 1 s to authorize."""
    p = await Platform(tmp_path, push_retry_max=0.2, authorize_timeout=1.0).start()
    try:
        yield p
    finally:
        await p.stop()


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a migrated SQLite file of the test's own, no platform around it."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'csms.db'}"
    await migrate(url)
    engine = make_engine(url)
    try:
        yield make_sessions(engine)
    finally:
        await engine.dispose()
