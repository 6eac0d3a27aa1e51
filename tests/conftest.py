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
