"""Fixtures: the real platform on a free loopback port, with a SQLite file of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

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
