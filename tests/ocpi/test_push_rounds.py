"""The deliverer keeps what it holds when the database refuses one of its rounds."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cpo.ocpi.client import OcpiClient
from cpo.ocpi.headers import PartyRef
from cpo.ocpi.requestlog import RequestLog
from cpo.push.deliverer import Attempt, Deliverer
from cpo.push.outbox import Outbox
from cpo.push.senders import senders
from cpo.push.tables import PendingPush
from cpo.schema import migrate
from cpo.tables import Party, PartyState
from cpo.tariffs.tables import Tariff
from csms import clock
from csms.db import make_database, make_engine
from tests.helpers.servers import Served

TARIFFS = 4


class GatedReceiver:
    """An eMSP's tariffs receiver that holds every answer until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.waiting = 0
        self.all_waiting = asyncio.Event()
        self.received: set[str] = set()
        app = Starlette(routes=[Route("/tariffs/{cc}/{pid}/{id}", self._put, methods=["PUT"])])
        self._served = Served(lambda port: uvicorn.Config(app, log_level="warning", lifespan="off"))

    async def _put(self, request: Request) -> JSONResponse:
        self.waiting += 1
        if self.waiting >= TARIFFS:
            self.all_waiting.set()
        await self.gate.wait()
        self.received.add(request.path_params["id"])
        return JSONResponse({"status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._served.port}"

    async def __aenter__(self) -> GatedReceiver:
        await self._served.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.gate.set()
        await self._served.stop()


class Heard(logging.Handler):
    """Sets an event when the push logger says a round failed."""

    def __init__(self) -> None:
        super().__init__()
        self.round_failed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "round for party" in record.getMessage():
            self.round_failed.set()


async def test_a_round_the_database_refuses_strands_nothing(tmp_path: Path) -> None:
    path = tmp_path / "cpo.db"
    url = f"sqlite+aiosqlite:///{path}"
    await migrate(url)
    # A short wait for the lock, so a held lock fails the round; a lease far beyond the test,
    # so a row left claimed would never come back within it.
    engine = make_engine(url, busy_wait=0.2)
    database = make_database(engine)
    heard = Heard()
    logging.getLogger("cpo.push").addHandler(heard)
    async with GatedReceiver() as emsp:
        now = clock.now()
        async with database.begin() as session:
            party = Party(
                name="gated",
                state=PartyState.REGISTERED,
                roles=[{"role": "EMSP", "country_code": "NL", "party_id": "EMS"}],
                version="2.2.1",
                versions_url=f"{emsp.url}/versions",
                endpoints=[
                    {"identifier": "tariffs", "role": "RECEIVER", "url": f"{emsp.url}/tariffs"}
                ],
                outgoing_token="token-c",
            )
            session.add(party)
            for n in range(TARIFFS):
                session.add(
                    Tariff(
                        ocpi_id=f"T{n}",
                        country_code="NL",
                        party_id="CPO",
                        data={"currency": "EUR", "elements": []},
                        last_updated=now,
                    )
                )
            await session.flush()
            assert party.id is not None
            for n in range(TARIFFS):
                await Outbox.mark(session, [party.id], "tariff", f"T{n}")
        outbox = Outbox()
        client = OcpiClient(
            PartyRef("NL", "CPO"), RequestLog(database, 1.0), timeout=30, allow_private=True
        )
        deliverer = Deliverer(
            database, outbox, senders(database, client), concurrency=TARIFFS, lease=600
        )
        watch = deliverer.watch()
        deliverer.start()
        lock = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            async with asyncio.timeout(30):
                await emsp.all_waiting.wait()  # every row claimed and in flight
                lock.execute("BEGIN IMMEDIATE")  # another process writes, and long
                emsp.gate.set()  # the sends end; recording them meets the lock
                await heard.round_failed.wait()
                lock.execute("ROLLBACK")
                delivered: set[str] = set()
                while len(delivered) < TARIFFS:
                    attempt: Attempt = await watch.get()
                    if attempt.outcome == "delivered":
                        delivered.add(attempt.object_id)
            assert emsp.received == {f"T{n}" for n in range(TARIFFS)}
            async with database() as session:
                left = (await session.execute(PendingPush.__table__.select())).all()  # type: ignore[attr-defined]
            assert left == []
        finally:
            lock.close()
            logging.getLogger("cpo.push").removeHandler(heard)
            await deliverer.stop()
            await client.close()
            await engine.dispose()
