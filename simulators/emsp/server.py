"""LoopbackServer: an ASGI app under uvicorn on a port of its own that can go down and come back."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import uvicorn
from starlette.types import ASGIApp


class LoopbackServer:
    """uvicorn serving `app` on host:port (a free port when 0), kept across down() and up()."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._going_down = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._server is not None

    async def pause(self, seconds: float) -> None:
        """Sleep for a slow answer, cut short when the server goes down (no hung shutdown)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._going_down.wait(), seconds)

    async def up(self) -> None:
        """Listen; once the awaited call returns, connections are accepted."""
        if self._server is not None:
            return
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets that say they are TCP,
        # and with it on every answer waited ~40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        config.load()
        server = uvicorn.Server(config)
        # startup()/shutdown() rather than serve(): no signal handlers taken from the host
        # process, and startup() returns once the socket accepts connections.
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        self._server, self._socket = server, sock
        self._going_down.clear()

    async def down(self) -> None:
        """Stop listening and close open connections; the port is free again afterwards."""
        server, sock = self._server, self._socket
        self._server, self._socket = None, None
        if server is not None:
            self._going_down.set()
            await server.shutdown(sockets=[sock] if sock else None)
