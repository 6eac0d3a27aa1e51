"""Logs as an operator reads them from `cpo serve`: with CPO_LOG_FORMAT=json every line of both
processes (uvicorn's too) is one JSON object, and each line about a charger or a party names
it: connects, boots, transactions, disconnects, registrations, failed pushes."""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from cpo import logs
from csms import log_context
from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator
from tests.helpers.databases import database_url

ADMIN_TOKEN = "logs-admin-token"
TAG = "LOG-TAG-1"


@dataclass
class Served:
    """`cpo serve` as its own process, and the lines it has written on standard error."""

    url: str
    process: asyncio.subprocess.Process
    lines: list[bytes] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"{self.url}/admin/api",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )

    async def read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            async with self.changed:
                self.lines.append(line)
                self.changed.notify_all()

    def records(self) -> list[dict[str, Any]]:
        """Every line so far as JSON (each must be one object)."""
        records = []
        for line in self.lines:
            record = orjson.loads(line)
            assert isinstance(record, dict), line
            assert {"time", "level", "logger", "message"} <= record.keys(), record
            records.append(record)
        return records

    async def line(self, where: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first record, written already or yet to come, that matches."""
        async with asyncio.timeout(20), self.changed:
            while True:
                for record in self.records():
                    if where(record):
                        return record
                await self.changed.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    port = _free_port()
    env = os.environ | {
        "CPO_PORT": str(port),
        "CPO_DATABASE_URL": database_url(tmp_path),
        "CPO_ADMIN_TOKEN": ADMIN_TOKEN,
        "CPO_LOG_FORMAT": "json",
        "CPO_LOG_LEVEL": "info",
        "CPO_OCPI_ALLOW_PRIVATE_PEERS": "true",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from cpo.cli import main; raise SystemExit(main(['serve']))",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    served = Served(f"http://127.0.0.1:{port}", process)
    reader = asyncio.create_task(served.read())
    try:
        assert process.stdout is not None
        async with asyncio.timeout(60):  # the banner comes once the server listens
            while not (await process.stdout.readline()).startswith(b"CPO platform on"):
                assert process.returncode is None
        yield served
    finally:
        if process.returncode is None:
            process.terminate()
        async with asyncio.timeout(30):
            await process.wait()
            await reader


def about(station_id: str, message: str) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r.get("station_id") == station_id and message in r["message"]


async def test_json_lines_name_the_charger_and_the_party_they_are_about(served: Served) -> None:
    async with served.admin() as admin:
        for station_id in ("CP-LOG-16", "CP-LOG-201"):
            response = await admin.post("/stations", json={"id": station_id})
            assert response.status_code == 201, response.text
        assert (await admin.post("/tokens", json={"uid": TAG})).status_code == 201

    ws_url = served.url.replace("http", "ws", 1) + "/ocpp"
    for station_id, ocpp in (("CP-LOG-16", "1.6"), ("CP-LOG-201", "2.0.1")):
        async with ChargePointSimulator(id=station_id, url=ws_url, ocpp=ocpp) as charger:
            assert await charger.boot() == "Accepted"
            await charger.start_transaction(1, TAG)
            await charger.stop_transaction(1)
        for message in (
            f"connected (OCPP {ocpp})",
            "boot accepted",
            "started",
            "stopped",
            "disconnected",
        ):
            await served.line(about(station_id, message))

    async with EmspSimulator(party_id="EMS") as emsp:
        async with served.admin() as admin:
            response = await admin.post(
                "/parties/registrations",
                json={"versions_url": emsp.versions_url, "token": emsp.invite()},
            )
            assert response.status_code == 201, response.text
            party_id = response.json()["id"]
            await served.line(lambda r: r.get("party") == party_id and "registered" in r["message"])
            await emsp.down()
            tariff = {
                "id": "LOG-T1",
                "currency": "EUR",
                "elements": [
                    {"price_components": [{"type": "ENERGY", "price": 1, "step_size": 1}]}
                ],
            }
            assert (await admin.post("/tariffs", json=tariff)).status_code == 200
        failed = await served.line(lambda r: "LOG-T1" in r["message"] and "fail" in r["message"])
        assert failed["party"] == party_id and failed["process"] == "push worker"

    served.process.terminate()  # uvicorn stops, then ends by the signal it was sent
    await served.process.wait()
    records = served.records()  # every line of both processes, to the last, is JSON
    assert any(r["logger"].startswith("uvicorn") for r in records)
    for station_id in ("CP-LOG-16", "CP-LOG-201"):
        mentioning = [r for r in records if station_id in r["message"]]
        assert mentioning and all(r.get("station_id") == station_id for r in mentioning), [
            r for r in mentioning if r.get("station_id") != station_id
        ]


def test_text_lines_name_the_charger_and_the_party_too() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.Context())
    handler.setFormatter(logs.TextFormatter())
    logger = logging.getLogger("tests.logs.text")
    logger.addHandler(handler)
    logger.propagate = False

    def charger_then_party() -> None:
        log_context.station_id.set("CP1")
        logger.warning("boot accepted")
        log_context.station_id.set(None)
        logs.about_party(7)
        logger.warning("push failed")

    try:
        contextvars.copy_context().run(charger_then_party)
        logger.warning("about nobody")
    finally:
        logger.removeHandler(handler)
    first, second, third = stream.getvalue().splitlines()
    assert first.endswith("WARNING tests.logs.text station=CP1: boot accepted")
    assert second.endswith("WARNING tests.logs.text party=7: push failed")
    assert third.endswith("WARNING tests.logs.text: about nobody")
