"""Migrations when several nodes share one PostgreSQL database: they start at once, one
migrates under the lock and the others wait, and a node never serves a schema that is not its
code's. Always on PostgreSQL, which is what several nodes run on."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
from alembic.script import ScriptDirectory

from cpo.schema import alembic_config
from tests.helpers.databases import fetch, postgres_url
from tests.helpers.processes import BIN, CpoServe, run

NODES = 3


def head(url: str) -> str:
    found = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert found is not None
    return found


async def test_nodes_started_at_once_on_an_empty_database_all_serve(tmp_path: Path) -> None:
    url = postgres_url(tmp_path)
    nodes = []
    for n in range(NODES):
        directory = tmp_path / f"node-{n}"
        directory.mkdir()
        nodes.append(CpoServe(directory, {"CPO_DATABASE_URL": url, "CPO_ADMIN_TOKEN": "t"}))
    async with contextlib.AsyncExitStack() as stack:
        for node in nodes:  # started one right after the other, none waiting for another
            await stack.enter_async_context(node)
        await asyncio.gather(*(node.listening() for node in nodes))
        async with httpx.AsyncClient(timeout=10) as client:
            for node in nodes:
                response = await client.get(f"{node.url}/health")
                assert response.status_code == 200, node.output
                assert response.json()["status"] == "ok"
    assert await fetch(url, "SELECT version_num FROM alembic_version") == [(head(url),)]


async def test_a_database_migrated_by_newer_code_is_not_served(tmp_path: Path) -> None:
    url = postgres_url(tmp_path)
    code, out, err = await run(str(BIN / "cpo"), "migrate", env={"CPO_DATABASE_URL": url})
    assert code == 0, err
    assert head(url) in out
    await fetch(url, "UPDATE alembic_version SET version_num = '9999_from_the_future'")
    async with CpoServe(tmp_path, {"CPO_DATABASE_URL": url}) as node:
        assert await node.wait() == 1
    assert node.stderr == [
        f"cpo: the database schema is at 9999_from_the_future, newer than this code"
        f" ({head(url)}); upgrade this node\n"
    ]
    assert node.stdout == []
    code, _, err = await run(str(BIN / "cpo"), "migrate", env={"CPO_DATABASE_URL": url})
    assert code == 1 and err.startswith("cpo: the database schema is at 9999_from_the_future")
