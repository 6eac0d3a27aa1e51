"""Another process that takes an SQLite file's write lock and holds it until told to let go."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO meta (key, value) VALUES ('holder', 'was here')")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
print("released", flush=True)
"""


@contextlib.asynccontextmanager
async def write_lock_held(path: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """The holder, once it holds the lock (a line to its stdin lets go: it then prints
    "released"); killed at the end if it still runs."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 10) == b"locked\n"
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
