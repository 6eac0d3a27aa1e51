"""Several `cpo serve` nodes on one PostgreSQL and one Redis, as a test drives them: each node
is a real process, talked to over HTTP and WebSockets only."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from simulators.charge_point import ChargePointSimulator
from tests.helpers.databases import RedisServer, fetch, postgres_url
from tests.helpers.platform import ADMIN_TOKEN
from tests.helpers.processes import CpoServe

PASSWORD = "charger-secret-1"


class Node:
    """One `cpo serve` of the cluster, with what tests.helpers.platform.Platform offers a test."""

    def __init__(self, name: str, process: CpoServe) -> None:
        self.name = name
        self.process = process

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/ocpp"

    def admin(self, token: str = ADMIN_TOKEN) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"{self.url}/admin/api",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    async def add_station(self, station_id: str, password: str | None = PASSWORD) -> None:
        async with self.admin() as admin:
            body: dict[str, Any] = {"id": station_id} | ({"password": password} if password else {})
            response = await admin.post("/stations", json=body)
            assert response.status_code == 201, response.text

    async def station(self, station_id: str) -> dict[str, Any]:
        async with self.admin() as admin:
            response = await admin.get(f"/stations/{station_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def command(
        self, station_id: str, name: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        async with self.admin() as admin:
            response = await admin.post(f"/stations/{station_id}/commands/{name}", json=body)
        return response.status_code, response.json()

    async def health(self) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.get(f"{self.url}/health")

    def signal(self, sig: int) -> None:
        """To the server alone (its push worker notices its end through its pipe)."""
        assert self.process.process is not None
        os.kill(self.process.process.pid, sig)

    async def kill(self) -> None:
        """kill -9 of the whole node, its push worker too (a machine that dies; the worker
        runs in a process group of its own), and its end awaited (its output read to the
        end)."""
        assert self.process.process is not None
        pid = self.process.process.pid
        for child in _children(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        os.killpg(pid, signal.SIGKILL)
        assert await self.process.wait(30) == -signal.SIGKILL


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


class Cluster:
    """PostgreSQL (this run's server) and a Redis of the test's own, and nodes on them."""

    def __init__(self, directory: Path, **env: str) -> None:
        self.directory = directory
        self.redis = RedisServer()
        self.database_url = postgres_url(directory)
        self.env = {
            "CPO_DATABASE_URL": self.database_url,
            "CPO_ADMIN_TOKEN": ADMIN_TOKEN,
            "CPO_NODE_LEASE_SECONDS": "1",
            "CPO_RECONNECT_GRACE_SECONDS": "0",
            "CPO_OCPP_RESPONSE_TIMEOUT": "2",
            "CPO_STATUS_TRIGGER_DELAY": "60",  # no triggered status racing the ones under test
            "CPO_PUSH_RETRY_MAX": "0.2",
            "CPO_SESSION_UPDATE_SECONDS": "0.2",
            "CPO_LOG_LEVEL": "info",
            "CPO_DRAIN_SECONDS": "0",  # no load balancer to wait for
        } | env
        self.nodes: list[Node] = []

    async def node(self, name: str, **env: str) -> Node:
        directory = self.directory / name
        directory.mkdir()
        process = CpoServe(
            directory,
            self.env | {"CPO_REDIS_URL": self.redis.url, "CPO_NODE_NAME": name} | env,
        )
        node = Node(name, process)
        self.nodes.append(node)
        await process.start()
        await process.listening()
        return node

    async def sql(self, statement: str, **params: object) -> list[tuple[object, ...]]:
        return await fetch(self.database_url, statement, **params)

    async def events(self, station_id: str, kind: str) -> int:
        rows = await self.sql(
            "SELECT count(*) FROM events WHERE station_id = :s AND type = :t", s=station_id, t=kind
        )
        return int(rows[0][0])  # type: ignore[call-overload]

    async def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(ProcessLookupError):
                node.signal(signal.SIGCONT)  # a test may have stopped one
            await node.process.stop()
        self.redis.stop()


@contextlib.asynccontextmanager
async def cluster(directory: Path, **env: str) -> AsyncIterator[Cluster]:
    running = Cluster(directory, **env)
    running.redis.start()
    try:
        yield running
    finally:
        await running.stop()


@contextlib.asynccontextmanager
async def charger(
    node: Node, station_id: str, version: str = "1.6", **kw: Any
) -> AsyncIterator[ChargePointSimulator]:
    """A charger connected to `node`, booted, its EVSE 1 Available."""
    sim = ChargePointSimulator(
        id=station_id, url=node.ws_url, ocpp=version, password=PASSWORD, **kw
    )
    await sim.connect()
    try:
        assert await sim.boot() == "Accepted"
        await sim.status(1, "Available")
        yield sim
    finally:
        await sim.close()


async def until(check: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Asks `check` (a coroutine function) again and again until it returns something true;
    for state that another process changes and announces to nobody a test can hear."""
    async with asyncio.timeout(timeout):
        while True:
            if found := await check():
                return found
            await asyncio.sleep(0.1)
