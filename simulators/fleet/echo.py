"""A bare OCPP-J server that answers every CALL at once: what the generator's ceiling is measured against."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from simulators.fleet.wire import CALL

# One answer fits every CALL the fleet sends: what Boot, Authorize, Start and the rest look for.
ECHO_REPLY = orjson.dumps(
    {
        "status": "Accepted",
        "currentTime": "2025-01-01T00:00:00.000Z",
        "interval": 300,
        "idTagInfo": {"status": "Accepted"},
        "idTokenInfo": {"status": "Accepted"},
        "transactionId": 1,
    }
)


@contextlib.asynccontextmanager
async def echo_server(host: str = "127.0.0.1") -> AsyncIterator[str]:
    """A bare OCPP-J server on this event loop that answers every CALL at once; its URL."""
    async with serve(
        _echo,
        host,
        0,
        subprotocols=[Subprotocol("ocpp2.0.1"), Subprotocol("ocpp1.6")],
        compression=None,
        ping_interval=None,
        close_timeout=1,
        backlog=4096,
    ) as server:
        port = int(next(iter(server.sockets)).getsockname()[1])
        yield f"ws://{host}:{port}/ocpp"


async def _echo(ws: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        while True:
            data = await ws.recv(decode=False)
            frame = orjson.loads(data)
            if isinstance(frame, list) and len(frame) > 2 and frame[0] == CALL:
                await ws.send(b"[3," + orjson.dumps(frame[1]) + b"," + ECHO_REPLY + b"]", text=True)
