"""Real uvicorn servers on free loopback ports, started and stopped from a test."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from cpo.server import closing


class _Server(uvicorn.Server):
    """uvicorn's server with an event that is set once it listens (startup done)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await closing(getattr(self.config.app, "state", None))  # as `cpo serve` does
        await super().shutdown(sockets)


class Served:
    """One uvicorn server on 127.0.0.1 (port 0: a free one), started in this event loop.

    `config` is called with the port once it is bound, so the app can know its own URL.
    """

    def __init__(self, config: Callable[[int], uvicorn.Config], port: int = 0) -> None:
        self.config = config
        self.port = port
        self.server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        # IPPROTO_TCP: asyncio turns Nagle off only on sockets that say they are TCP.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = self.config(self.port)
        config.load()
        server = _Server(config)
        self.server = server
        self._task = asyncio.create_task(server.serve(sockets=[sock]))
        listening = asyncio.create_task(server.listening.wait())
        # Either it listens, or serving ended (a failed startup): whichever comes first.
        await asyncio.wait({listening, self._task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if self._task.done():
            self._task.result()
        assert self.server.started, "the server did not start"
        return self.port

    async def stop(self) -> None:
        if self.server and self._task:
            self.server.should_exit = True
            await asyncio.wait_for(self._task, 30)
        self.server, self._task = None, None


# An answer: (HTTP status, body) or (HTTP status, body, headers). A body is bytes, or a
# function giving the chunks of a streamed one.
Body = bytes | Callable[[], AsyncIterator[bytes]]
Answer = tuple[int, Body] | tuple[int, Body, dict[str, str]]


class StaticPeer:
    """A peer that answers fixed bodies at fixed paths: for peers that misbehave on purpose.

    `answers` maps a path (percent-decoded) to an Answer; `{url}` in a body or header is
    replaced by the peer's own base URL. Every request it gets is kept in `requests`, its path
    as it came on the wire in `raw_paths`.
    """

    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.raw_paths: list[str] = []
        self.bodies: list[bytes] = []
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        app = Starlette(routes=[Route("/{path:path}", self._answer, methods=methods)])
        self._served = Served(lambda port: uvicorn.Config(app, log_level="warning", lifespan="off"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._served.port}"

    async def _answer(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        self.requests.append((request.method, path, dict(request.headers)))
        self.raw_paths.append(request.scope["raw_path"].decode())
        self.bodies.append(await request.body())
        status, body, *more = self.answers.get(path, (404, b"not here"))
        headers = {k: v.replace("{url}", self.url) for k, v in (more[0] if more else {}).items()}
        if callable(body):
            return StreamingResponse(body(), status, headers, media_type="application/json")
        return Response(
            body.replace(b"{url}", self.url.encode()),
            status,
            headers,
            media_type="application/json",
        )

    async def __aenter__(self) -> StaticPeer:
        await self._served.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._served.stop()
