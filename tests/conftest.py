"""Fixtures: the real platform on a free loopback port, with a database of its own, or
just the database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.schema import migrate
from csms.db import make_database, make_engine
from tests.helpers.databases import ON_POSTGRES, database_url, drop_created
from tests.helpers.platform import Platform


@pytest.fixture(autouse=True)
def _databases_dropped() -> Iterator[None]:
    """Under `make test-pg`, each test's databases are dropped once it ends."""
    yield
    if ON_POSTGRES:
        drop_created()


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
async def database(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a migrated database of the test's own, no platform around it."""
    url = database_url(tmp_path, "csms.db")
    await migrate(url)
    engine = make_engine(url)
    try:
        yield make_database(engine)
    finally:
        await engine.dispose()
