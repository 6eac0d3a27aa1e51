"""OCPP-J on a raw `websockets` connection, as cheap as it goes: frames, timestamps, connecting.

Shared by the fleet's chargers and the benchmarks' load generator (`bench/harness.py`): both
build their frames here and open their connections here, so a charger says the same thing
however it is driven.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

CALL, CALLRESULT, CALLERROR = 2, 3, 4
USER_AGENT = "cpo-sim fleet"
ACCEPTED = {"status": "Accepted"}


# -- frames -----------------------------------------------------------------------------------


def call_frame(message_id: str, action: str, payload: dict[str, Any]) -> bytes:
    """`[2, id, action, payload]`, to send as a text frame."""
    return orjson.dumps([CALL, message_id, action, payload])


def call_template(action: str, payload: str = "{}") -> Callable[[str], str]:
    """CALL frames of one action and one payload (JSON text), built once: per CALL only its
    message id is put in. For a generator that must cost the server's peer next to nothing."""
    head, tail = '[2,"', '",' + orjson.dumps(action).decode() + "," + payload + "]"
    return lambda message_id: head + message_id + tail


def result_frame(message_id: Any, payload: dict[str, Any]) -> bytes:
    """`[3, id, payload]`: the answer to a CALL, to send as a text frame."""
    return orjson.dumps([CALLRESULT, message_id, payload])


def error_frame(message_id: Any, code: str, description: str) -> bytes:
    """`[4, id, code, description, {}]`: a CALL refused, to send as a text frame."""
    return orjson.dumps([CALLERROR, message_id, code, description, {}])


def iso(at: float) -> str:
    """UTC with milliseconds, as chargers send it, of one reading of the clock (seconds and
    milliseconds read apart could put a message a second before the one sent just before it,
    and a CSMS rightly ignores a status older than the one it holds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"


def iso_now() -> str:
    """`iso` of the wall clock now."""
    return iso(time.time())


# -- connecting -------------------------------------------------------------------------------


def charger_url(url: str, charger_id: str) -> str:
    """The charger's own endpoint: the CSMS's OCPP URL with the charger id appended."""
    return f"{url.rstrip('/')}/{quote(charger_id, safe='')}"


def basic_auth(charger_id: str, password: str | None) -> dict[str, str]:
    """The HTTP headers of a charger that logs in with a password (security profile 1/2)."""
    if password is None:
        return {}
    secret = base64.b64encode(f"{charger_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {secret}"}


async def open_connection(
    url: str,
    subprotocol: str,
    *,
    headers: dict[str, str] | None = None,
    deflate: bool = False,
    open_timeout: float | None = 10.0,
    close_timeout: float = 2.0,
) -> ClientConnection:
    """A charger's WebSocket to the CSMS, offering one OCPP subprotocol; raises as `connect`
    does. No keepalive pings of our own (a charger answers the server's), no proxy."""
    return await connect(
        url,
        subprotocols=[Subprotocol(subprotocol)],
        additional_headers=headers,
        open_timeout=open_timeout,
        ping_interval=None,
        close_timeout=close_timeout,
        compression="deflate" if deflate else None,
        proxy=None,
        user_agent_header=USER_AGENT,
    )
