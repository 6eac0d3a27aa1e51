"""The real platform under uvicorn on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from cpo.server import uvicorn_config
from cpo.settings import Settings
from csms.models import Event
from csms.service import Csms

ADMIN_TOKEN = "test-admin-token"


class Platform:
    def __init__(self, directory: Path, **settings: Any) -> None:
        self.directory = directory
        defaults: dict[str, Any] = dict(
            database_url=f"sqlite+aiosqlite:///{directory / 'cpo.db'}",
            admin_token=ADMIN_TOKEN,
            host="127.0.0.1",
            log_level="warning",
            ocpp_response_timeout=5.0,
        )
        self.settings = Settings(_env_file=None, **(defaults | settings))  # type: ignore[call-arg]
        self.server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = int(settings.get("port", 0))
        self.scheme = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/ocpp"

    @property
    def csms(self) -> Csms:
        assert self.server is not None
        app = self.server.config.loaded_app
        while not hasattr(app, "state"):
            app = app.app  # through uvicorn's proxy-headers wrapper
        return app.state.csms  # type: ignore[no-any-return]

    async def start(self) -> Platform:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self.settings = self.settings.model_copy(update={"port": self.port})
        self.scheme = "https" if self.settings.tls_cert else "http"
        config = uvicorn_config(self.settings)
        config.load()
        self.server = uvicorn.Server(config)
        self._task = asyncio.create_task(self.server.serve(sockets=[sock]))
        # uvicorn offers no awaitable for "listening"; its flag flips once startup is done.
        for _ in range(1000):
            if self.server.started or self._task.done():
                break
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()
        assert self.server.started, "the server did not start"
        return self

    async def stop(self) -> None:
        if self.server and self._task:
            self.server.should_exit = True
            await asyncio.wait_for(self._task, 30)
        self.server, self._task = None, None

    def admin(self, token: str = ADMIN_TOKEN) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"{self.url}/admin/api",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            verify=False,
        )

    async def add_station(self, station_id: str, password: str | None = None) -> None:
        async with self.admin() as admin:
            body: dict[str, Any] = {"id": station_id} | ({"password": password} if password else {})
            response = await admin.post("/stations", json=body)
            assert response.status_code == 201, response.text

    def events(self) -> EventWaiter:
        return EventWaiter(self.csms)


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
