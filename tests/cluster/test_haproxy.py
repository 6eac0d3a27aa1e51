"""Two nodes behind a real HAProxy running deploy/haproxy.cfg (its ports filled in): chargers,
the admin API and eMSPs reach the platform through it whichever node serves them, and a node
that drains hands its chargers over through it without their stations going offline."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from simulators.charge_point import ChargePointSimulator
from tests.helpers.cluster import PASSWORD, Cluster, Node, cluster, until
from tests.helpers.databases import INSTALL_HINT, free_port
from tests.helpers.platform import ADMIN_TOKEN

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "haproxy.cfg"


def configured(port: int, nodes: list[Node]) -> str:
    """deploy/haproxy.cfg listening on `port` of loopback, in front of `nodes`."""
    text = CONFIG.read_text()
    text = re.sub(r"(?m)^(\s*)bind \*:8000$", rf"\1bind 127.0.0.1:{port}", text)
    text = re.sub(r"(?m)^\s*server node\d .*\n", "", text)
    text = re.sub(r"(?m)^\s*log stdout .*\n", "", text)
    # Its connections need twice as many open files as this machine lets a process have.
    text = re.sub(r"(?m)^(\s*)maxconn 60000\b.*$", r"\1maxconn 4000", text)
    servers = "".join(
        f"    server {node.name} 127.0.0.1:{node.process.port} check\n" for node in nodes
    )
    assert "backend nodes" in text
    return text.rstrip("\n") + "\n" + servers


def _prepared(directory: Path, port: int, nodes: list[Node]) -> tuple[str, Path, Path]:
    """The binary, and the configuration (checked by HAProxy itself, with a stats socket)."""
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert Path(binary).exists(), f"no haproxy: {INSTALL_HINT}"
    config = directory / "haproxy.cfg"
    config.write_text(configured(port, nodes))
    check = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    stats = directory / "haproxy.sock"
    config.write_text(
        config.read_text().replace("global\n", f"global\n    stats socket {stats} level admin\n", 1)
    )
    return binary, config, stats


@contextlib.asynccontextmanager
async def haproxy(directory: Path, nodes: list[Node]) -> AsyncIterator[str]:
    """HAProxy in the foreground on a free port; yields its URL once every node is up in it."""
    port = free_port()
    binary, config, stats = await asyncio.to_thread(_prepared, directory, port, nodes)
    output = directory / "haproxy.log"
    with output.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            binary, "-db", "-f", str(config), stdout=log, stderr=log
        )
    try:
        try:
            await until(lambda: _servers_up(stats, len(nodes)), timeout=15, what="nodes up")
        except TimeoutError:
            raise AssertionError(f"haproxy: {output.read_text()}") from None
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


async def _servers_up(stats: Path, count: int) -> bool:
    """Whether HAProxy's health checks see `count` servers of the backend UP."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(stats))
    except OSError:
        return False
    writer.write(b"show stat\n")
    await writer.drain()
    text = (await reader.read()).decode()
    writer.close()
    rows = [line.split(",") for line in text.splitlines() if line.startswith("nodes,")]
    return sum(1 for row in rows if row[1] != "BACKEND" and row[17] == "UP") == count


async def test_chargers_and_requests_through_haproxy_reach_any_node(tmp_path: Path) -> None:
    async with cluster(tmp_path) as nodes:
        a, b = await nodes.node("node-a"), await nodes.node("node-b")
        async with haproxy(tmp_path, [a, b]) as url:
            for n in range(4):
                await a.add_station(f"CP-LB-{n}")
            sims = [
                ChargePointSimulator(
                    id=f"CP-LB-{n}", url=url.replace("http", "ws") + "/ocpp", password=PASSWORD
                )
                for n in range(4)
            ]
            try:
                for sim in sims:
                    await sim.connect()
                    assert await sim.boot() == "Accepted"
                    await sim.status(1, "Available")
                # Fewest connections first: both nodes hold chargers.
                held = [(await node.health()).json()["chargers_connected"] for node in (a, b)]
                assert held == [2, 2], held

                # Each admin request lands on either node; every charger answers every one.
                async with httpx.AsyncClient(
                    base_url=f"{url}/admin/api",
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                    timeout=30,
                ) as admin:
                    for _ in range(2):
                        for n in range(4):
                            response = await admin.post(
                                f"/stations/CP-LB-{n}/commands/unlock", json={"evse_id": 1}
                            )
                            assert response.status_code == 200, response.text
                            assert response.json()["status"] == "Unlocked"
                    stations = (await admin.get("/stations")).json()
                    assert all(s["online"] for s in stations if s["id"].startswith("CP-LB-"))
                async with httpx.AsyncClient(timeout=10) as client:
                    versions = await client.get(f"{url}/ocpi/versions")
                assert versions.status_code == 401  # an OCPI answer: a token is asked for
            finally:
                for sim in sims:
                    await sim.close()


async def _online(nodes: Cluster, station_ids: list[str]) -> bool:
    rows = await nodes.sql("SELECT id, online FROM stations")
    return all(online for sid, online in rows if sid in station_ids)


async def test_a_draining_node_hands_its_chargers_over_through_haproxy(tmp_path: Path) -> None:
    # Chargers a drained node held get the reconnect grace to come back before they count as
    # offline.
    async with cluster(tmp_path, CPO_RECONNECT_GRACE_SECONDS="15") as nodes:
        a, b = await nodes.node("node-a"), await nodes.node("node-b")
        async with haproxy(tmp_path, [a, b]) as url:
            ids = [f"CP-DRAIN-{n}" for n in range(4)]
            for station_id in ids:
                await a.add_station(station_id)
            sims = []
            try:
                for station_id in ids:
                    sim = ChargePointSimulator(
                        id=station_id, url=url.replace("http", "ws") + "/ocpp", password=PASSWORD
                    )
                    sim.reconnect = True  # as a charger does after its server goes away
                    await sim.connect()
                    assert await sim.boot() == "Accepted"
                    await sim.status(1, "Available")
                    sims.append(sim)
                assert (await a.health()).json()["chargers_connected"] == 2

                a.signal(signal.SIGTERM)
                assert await a.process.wait(30) == -signal.SIGTERM

                # HAProxy sent the drained node's chargers to the other: all four there, online,
                # and none was ever recorded offline.
                async def all_on_b() -> bool:
                    return (await b.health()).json().get("chargers_connected") == 4

                await until(all_on_b, timeout=20, what="chargers on node-b")
                assert await _online(nodes, ids)
                for station_id in ids:
                    assert await nodes.events(station_id, "StationDisconnected") == 0
                    status, result = await b.command(station_id, "unlock", {"evse_id": 1})
                    assert (status, result["status"]) == (200, "Unlocked"), result
            finally:
                for sim in sims:
                    await sim.close()
