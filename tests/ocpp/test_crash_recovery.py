"""After a crash: chargers the dead process held, and that do not come back, are marked offline
and their EVSEs UNKNOWN at every eMSP, within a minute of the restart."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator
from tests.helpers.databases import database_url
from tests.helpers.ocpi import location, register_with
from tests.helpers.platform import ADMIN_TOKEN, Platform, post
from tests.helpers.processes import BANNER


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def serve(directory: Path, port: int) -> asyncio.subprocess.Process:
    """`cpo serve` with its push worker, as an operator runs it, in a process group of its own;
    returns once it listens."""
    env = os.environ | {
        "CPO_DATABASE_URL": database_url(directory),
        "CPO_ADMIN_TOKEN": ADMIN_TOKEN,
        "CPO_OCPI_ALLOW_PRIVATE_PEERS": "true",
        "CPO_LOG_LEVEL": "info",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cpo.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        cwd=directory,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(60):  # the banner comes once the port listens
            while BANNER.encode() not in (line := await process.stdout.readline()):
                assert line, "cpo serve ended before it listened"
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)  # never left running behind a failed test
        await process.wait()
        raise
    # The rest of its output goes nowhere: a full pipe would stop it.
    asyncio.get_running_loop().create_task(_drain(process.stdout))
    return process


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


def evse_status(emsp: EmspSimulator) -> str | None:
    """The EVSE's status as the eMSP holds it (from a PATCH of the EVSE or a PUT of all)."""
    held = emsp.locations.get(("NL", "CPO", "CRASH-1"))
    return str(held["evses"][0]["status"]) if held else None


async def test_chargers_that_do_not_come_back_after_a_crash_go_unknown_at_the_emsp(
    tmp_path: Path,
) -> None:
    port = free_port()
    # The same database and port before and after; the restarted platform gives chargers 1 s.
    platform = Platform(tmp_path, port=port, reconnect_grace_seconds=1.0)
    server = await serve(tmp_path, port)
    try:
        async with EmspSimulator(party_id="EMS") as emsp:
            await register_with(platform, emsp)
            await post(platform, "/locations", location("CRASH-1", [("CRASH-1-1", "CP-GONE", 1)]))
            await platform.add_station("CP-GONE")
            charger = ChargePointSimulator(id="CP-GONE", url=platform.ws_url, ocpp="1.6")
            async with charger:
                await charger.boot()
                await charger.status(1, "Available")
                await emsp.wait_for(lambda r: evse_status(emsp) == "AVAILABLE", timeout=30)
                # The next push hangs at the eMSP: the crash comes while the worker sends it.
                emsp.fault("slow", count=1, delay=120, modules={"locations"})
                await charger.status(1, "Unavailable")
                await emsp.wait_until_held("locations", timeout=20)

                # kill -9 of the server and its push worker: nothing of theirs runs after.
                os.killpg(server.pid, signal.SIGKILL)
                assert await server.wait() == -signal.SIGKILL
            # The charger never comes back.

            await platform.start()
            try:
                # Its EVSE goes UNKNOWN; the row the dead worker held waits for no lease.
                await emsp.wait_for(lambda r: evse_status(emsp) == "UNKNOWN", timeout=30)
                async with platform.admin() as admin:
                    station = (await admin.get("/stations/CP-GONE")).json()
                assert station["online"] is False
            finally:
                await platform.stop()
    finally:
        if server.returncode is None:
            os.killpg(server.pid, signal.SIGKILL)
            await server.wait()
