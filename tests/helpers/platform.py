"""The real platform under uvicorn on a free loopback port, for end-to-end tests, and the admin
calls and simulated chargers the tests drive it with."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from cpo.schema import migrate
from cpo.server import uvicorn_config
from cpo.settings import Settings
from csms.models import Event
from csms.service import Csms
from simulators.charge_point import ChargePointSimulator
from tests.helpers.databases import database_url
from tests.helpers.servers import Served

ADMIN_TOKEN = "test-admin-token"


class Platform:
    def __init__(self, directory: Path, **settings: Any) -> None:
        self.directory = directory
        defaults: dict[str, Any] = dict(
            database_url=database_url(directory),
            admin_token=ADMIN_TOKEN,
            host="127.0.0.1",
            log_level="warning",
            ocpp_response_timeout=5.0,
            # In this process, where a test can watch the deliverer (tests/ocpi/test_push_worker.py
            # runs the worker process).
            push_worker=False,
            # The eMSPs of the tests listen on loopback.
            ocpi_allow_private_peers=True,
            # argon2id at the least cost the settings allow: the suite hashes and checks
            # hundreds of passwords (tests/operator/test_password_hashing.py holds the default).
            password_hash_memory_kib=19 * 1024,
            password_hash_time_cost=2,
            # The certificate authority is the test's own.
            ca_cert=str(directory / "ca" / "cpo-ca.pem"),
            ca_key=str(directory / "ca" / "cpo-ca.key"),
        )
        self.settings = Settings(_env_file=None, **(defaults | settings))  # type: ignore[call-arg]
        self._served: Served = Served(lambda port: uvicorn_config(self.settings))
        self.port = int(settings.get("port", 0))
        self.scheme = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/ocpp"

    @property
    def server(self) -> uvicorn.Server | None:
        return self._served.server

    @property
    def state(self) -> Any:
        assert self.server is not None
        app = self.server.config.loaded_app
        while not hasattr(app, "state"):
            app = app.app  # through uvicorn's proxy-headers wrapper
        return app.state

    @property
    def csms(self) -> Csms:
        return self.state.csms  # type: ignore[no-any-return]

    async def start(self) -> Platform:
        await _premigrated(self.settings.database_url)

        def config(port: int) -> uvicorn.Config:
            # The settings (and so the URLs the platform hands out) know the port only now.
            self.settings = self.settings.model_copy(update={"port": port})
            return uvicorn_config(self.settings)

        self._served = Served(config, self.port)
        self.port = await self._served.start()
        self.scheme = "https" if self.settings.tls_cert else "http"
        return self

    async def __aenter__(self) -> Platform:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        await self._served.stop()

    def admin(self, token: str = ADMIN_TOKEN) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"{self.url}/admin/api",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            verify=False,
        )

    def cli_env(self, token: str = ADMIN_TOKEN) -> dict[str, str]:
        """The settings `cpo` administers this platform with: its admin API and the token."""
        return {"CPO_ADMIN_URL": self.url, "CPO_ADMIN_TOKEN": token}

    async def add_station(self, station_id: str, password: str | None = None) -> None:
        async with self.admin() as admin:
            body: dict[str, Any] = {"id": station_id} | ({"password": password} if password else {})
            response = await admin.post("/stations", json=body)
            assert response.status_code == 201, response.text

    def events(self) -> EventWaiter:
        return EventWaiter(self.csms)


_template: Path | None = None


async def _premigrated(url: str) -> None:
    """A new SQLite file starts as a copy of one migrated once per test process: the platform
    then finds its schema current (what a restart finds) instead of running every migration in
    every test. tests/operator/test_serve.py and the migration tests start from nothing."""
    global _template
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix) or _exists(url.removeprefix(prefix)):
        return
    if _template is None:
        directory = tempfile.mkdtemp(prefix="cpo-schema-")
        atexit.register(shutil.rmtree, directory, True)
        made = Path(directory) / "template.db"
        await migrate(prefix + str(made))
        _template = made
    shutil.copyfile(_template, url.removeprefix(prefix))


def _exists(path: str) -> bool:
    return Path(path).exists()


class EventWaiter:
    """Awaits domain events as the platform commits them (no polling, no sleeping)."""

    def __init__(self, csms: Csms) -> None:
        self._csms = csms
        self._queue = csms.store.feed.subscribe()
        self.seen: list[Event] = []

    async def wait(
        self, type: str, where: Callable[[Event], bool] = lambda e: True, timeout: float = 10
    ) -> Event:
        async with asyncio.timeout(timeout):
            for event in self.seen:
                if event.type == type and where(event):
                    self.seen.remove(event)
                    return event
            while True:
                event = await self._queue.get()
                if event.type == type and where(event):
                    return event
                self.seen.append(event)

    def close(self) -> None:
        self._csms.store.feed.unsubscribe(self._queue)


async def post(platform: Platform, path: str, body: Any, status: int = 200) -> Any:
    async with platform.admin() as admin:
        response = await admin.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json()


VERSIONS = ["1.6", "2.0.1"]


async def online(
    platform: Platform, station_id: str, version: str, **kw: Any
) -> ChargePointSimulator:
    await platform.add_station(station_id, password="charger-secret-1")
    sim = ChargePointSimulator(
        id=station_id, url=platform.ws_url, ocpp=version, password="charger-secret-1", evses=2, **kw
    )
    await sim.connect()
    assert await sim.boot() == "Accepted"
    for evse in (1, 2):
        await sim.status(evse, "Available")
    return sim


async def command(
    platform: Platform, station_id: str, name: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with platform.admin() as admin:
        response = await admin.post(f"/stations/{station_id}/commands/{name}", json=body)
    return response.status_code, response.json()


@contextlib.asynccontextmanager
async def one_site(
    tmp_path: Path, tariff: Any, location: Any, station: str, password: str, **settings: Any
) -> AsyncIterator[Platform]:
    """A platform quick to push, update sessions and give up on chargers, holding `tariff`,
    `location` and the charger `station` that serves it."""
    settings = {
        "push_retry_max": 0.2,
        "session_update_seconds": 0.2,
        "ocpp_response_timeout": 1.0,
        "status_trigger_delay": 60,  # no triggered status racing the ones under test
    } | settings
    platform = await Platform(tmp_path, **settings).start()
    try:
        await post(platform, "/tariffs", tariff)
        await post(platform, "/locations", location)
        await platform.add_station(station, password)
        yield platform
    finally:
        await platform.stop()
