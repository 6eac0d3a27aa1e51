"""Connection: a simulated charger's WebSocket link: CALLs and replies, raw frames, reconnects."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import ssl
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast
from urllib.parse import quote

from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.protocol import State
from websockets.typing import Subprotocol

from simulators.common import CallErrorReceived

if TYPE_CHECKING:
    from simulators.adapter import Adapter

LOG = logging.getLogger("simulators")
T = TypeVar("T")


class Connection:
    """The link under a ChargePointSimulator; `silent` and `errors` tune how server CALLs are met."""

    def __init__(
        self, id: str, url: str, ocpp: str, password: str | None, response_timeout: float
    ) -> None:
        if ocpp not in ("1.6", "2.0.1"):
            raise ValueError(f"unsupported OCPP version {ocpp!r} (use '1.6' or '2.0.1')")
        self.id = id
        self.url = url
        self.ocpp = ocpp
        self.password = password
        # wss://: the TLS context it connects with (with a client certificate: profile 3).
        self.tls: ssl.SSLContext | None = None
        self.response_timeout = response_timeout
        # When the server drops us (not a Reset), come back with back-off like a field unit.
        self.reconnect = False
        self.subprotocol: str | None = None
        self.silent: set[str] = set()
        self.errors: dict[str, str] = {}
        self.received_calls: list[tuple[str, dict[str, Any]]] = []

        # Dropping the link on purpose: a Reset (the charger reopens it) or close().
        self._rebooting = False
        self._closing = False
        self._ws: ClientConnection | None = None
        self._cp: Adapter | None = None
        self._recv_task: asyncio.Task[None] | None = None
        self._conn_closed = asyncio.Event()
        self._lock = asyncio.Lock()
        self._pending: dict[str, asyncio.Event] = {}
        self._call_errors: dict[str, tuple[str, str, Any]] = {}
        self._raw_waiters: dict[str, asyncio.Future[list[Any]]] = {}
        self._raw: asyncio.Queue[str] = asyncio.Queue()
        self._calls: defaultdict[str, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ connection

    @property
    def uri(self) -> str:
        return f"{self.url.rstrip('/')}/{quote(self.id, safe='')}"

    @property
    def closed(self) -> bool:
        return self._ws is None or self._conn_closed.is_set()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the WebSocket (again, after a drop); raises InvalidStatus when refused."""
        self._closing = False
        if self._ws is not None and not self.closed:
            return
        await self._drop()
        await self._open()

    async def close(self) -> None:
        self._closing = True
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._drop()

    async def wait_closed(self, timeout: float | None = 10) -> int | None:
        """Wait for the socket to close; the close code (1006 when it just dropped)."""
        ws, closed = self._ws, self._conn_closed
        if ws is None:
            return None
        await asyncio.wait_for(closed.wait(), timeout)
        return ws.close_code

    async def wait_idle(self, timeout: float = 10) -> None:
        """Wait until the follow-ups of server CALLs (remote start, reset ...) are done."""
        async with asyncio.timeout(timeout):
            while busy := [t for t in self._tasks if t is not asyncio.current_task()]:
                await asyncio.wait(busy)

    async def _open(self) -> None:
        headers: dict[str, str] = {}
        if self.password is not None:
            token = base64.b64encode(f"{self.id}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        ws = await connect(
            self.uri,
            subprotocols=[Subprotocol(f"ocpp{self.ocpp}")],
            additional_headers=headers,
            open_timeout=self.response_timeout,
            **({"ssl": self.tls} if self.tls is not None else {}),
        )
        adapter = self._adapter(ws)
        closed = asyncio.Event()
        self._ws, self._cp, self._conn_closed = ws, adapter, closed
        self.subprotocol = ws.subprotocol
        self._recv_task = asyncio.create_task(self._receive(ws, adapter, closed))

    def _adapter(self, ws: ClientConnection) -> Adapter:
        """The version's wire class for a fresh socket."""
        raise NotImplementedError

    async def _drop(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._recv_task is not None:
            # Shielded: a caller cancelled here (close() cancelling a reboot that is dropping
            # the link) must not cancel the reader with it; it ends by itself once the socket
            # is closed, and the next _drop() waits for it again.
            await asyncio.shield(self._recv_task)
            self._recv_task = None

    async def _reconnect(self, attempts: int | None = 8) -> None:
        delay, attempt = 0.2, 0
        while True:
            try:
                await self._open()
                return
            except (OSError, TimeoutError, WebSocketException):
                attempt += 1
                if attempts is not None and attempt >= attempts:
                    raise
                LOG.info("%s: reconnect failed, retrying in %.1fs", self.id, delay)
                # Back-off between attempts is the behaviour being simulated, not a wait for an event.
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _come_back(self) -> None:
        """After a server-side drop, with `reconnect` on: reconnect, retrying for ever."""
        await self._reconnect(attempts=None)

    async def _receive(self, ws: ClientConnection, cp: Adapter, closed: asyncio.Event) -> None:
        # Server CALLs are answered by a worker so that a handler may wait for one of our
        # replies (see _find_tx) while this loop keeps reading.
        inbox: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
        worker = asyncio.create_task(self._answer_calls(ws, cp, inbox))
        try:
            async for frame in ws:
                text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                try:
                    await self._dispatch(text, cp, inbox)
                except Exception:
                    LOG.exception("%s: failed to handle %s", self.id, text)
        except ConnectionClosed:
            pass
        finally:
            closed.set()
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            if self.reconnect and not (self._closing or self._rebooting) and ws is self._ws:
                self._spawn(self._come_back())

    async def _answer_calls(
        self, ws: ClientConnection, cp: Adapter, inbox: asyncio.Queue[tuple[str, str, str]]
    ) -> None:
        while True:
            uid, mode, text = await inbox.get()
            try:
                if mode == "route":
                    await cp.route_message(text)
                elif mode != "silent":
                    await ws.send(json.dumps([4, uid, mode, "simulated error", {}]))
            except ConnectionClosed:
                return
            except Exception:
                LOG.exception("%s: failed to answer %s", self.id, text)

    async def _dispatch(
        self, text: str, cp: Adapter, inbox: asyncio.Queue[tuple[str, str, str]]
    ) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, list) or len(msg) < 3 or not isinstance(msg[1], str):
            self._raw.put_nowait(text)
            return
        kind, uid = msg[0], msg[1]
        if kind == 2 and len(msg) == 4 and isinstance(msg[2], str) and isinstance(msg[3], dict):
            action, payload = msg[2], msg[3]
            LOG.info("%s <- %s %s", self.id, action, json.dumps(payload))
            mode = "silent" if action in self.silent else self.errors.get(action, "route")
            inbox.put_nowait((uid, mode, text))
            self.received_calls.append((action, payload))
            self._calls[action].put_nowait(payload)
            return
        if kind in (3, 4):
            waiter = self._raw_waiters.pop(uid, None)
            if waiter is not None:
                if not waiter.done():
                    waiter.set_result(msg)
                return
            done = self._pending.get(uid)
            if done is not None:
                if kind == 4:
                    self._call_errors[uid] = _error_parts(msg)
                await cp.route_message(text)
                # Let the caller book the answer (e.g. a new transaction id) before the next
                # frame is looked at.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), self.response_timeout)
                return
        self._raw.put_nowait(text)

    def _live(self) -> tuple[ClientConnection, Adapter, asyncio.Event]:
        if self._ws is None or self._cp is None:
            raise RuntimeError(f"{self.id}: not connected (call connect() first)")
        if self._conn_closed.is_set():
            raise _closed_error(self._ws)
        return self._ws, self._cp, self._conn_closed

    async def _guard(self, aw: Awaitable[T], ws: ClientConnection, closed: asyncio.Event) -> T:
        """Await aw, but fail fast when the socket closes instead of sitting out the timeout."""
        task = asyncio.ensure_future(aw)
        gone = asyncio.ensure_future(closed.wait())
        try:
            await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (task, gone):
                t.cancel()
            await asyncio.gather(task, gone, return_exceptions=True)
        if task.done() and not task.cancelled():
            return task.result()
        raise _closed_error(ws)

    async def _request(self, payload: Any) -> Any:
        """Send a library call payload (schema-checked both ways); CALLERROR -> CallErrorReceived."""
        async with self._lock:
            ws, cp, closed = self._live()
            uid = str(uuid.uuid4())
            done = self._pending[uid] = asyncio.Event()
            try:
                return await self._guard(
                    cp.call(payload, suppress=False, unique_id=uid), ws, closed
                )
            except (OCPPError, UnknownCallErrorCodeError) as exc:
                # The same exception types also mean "your reply broke the schema"; only a
                # CALLERROR frame we actually saw is the server's answer.
                if uid not in self._call_errors:
                    raise
                raise CallErrorReceived(*self._call_errors[uid]) from exc
            finally:
                self._pending.pop(uid, None)
                self._call_errors.pop(uid, None)
                done.set()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            LOG.warning("%s: background step failed: %r", self.id, exc)

    # ------------------------------------------------------------------ raw access

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Raw CALL, no schema validation; returns the CALLRESULT payload."""
        async with self._lock:
            ws, _, closed = self._live()
            uid = str(uuid.uuid4())
            fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
            self._raw_waiters[uid] = fut
            try:
                await ws.send(json.dumps([2, uid, action, payload]))
                reply = await self._guard(asyncio.wait_for(fut, self.response_timeout), ws, closed)
            finally:
                self._raw_waiters.pop(uid, None)
        if reply[0] == 4:
            raise CallErrorReceived(*_error_parts(reply))
        # Handed back as received, even when a broken CSMS answers with something not an object.
        return cast(dict[str, Any], reply[2])

    async def send_raw(self, text: str) -> None:
        ws, _, _ = self._live()
        await ws.send(text)

    async def next_raw(self, timeout: float = 10) -> str:
        return await asyncio.wait_for(self._raw.get(), timeout)

    async def wait_for_call(self, action: str, timeout: float = 10) -> dict[str, Any]:
        return await asyncio.wait_for(self._calls[action].get(), timeout)


def _error_parts(frame: list[Any]) -> tuple[str, str, Any]:
    code = str(frame[2]) if len(frame) > 2 else "GenericError"
    description = str(frame[3]) if len(frame) > 3 else ""
    details = frame[4] if len(frame) > 4 else {}
    return code, description, details


def _closed_error(ws: ClientConnection) -> Exception:
    if ws.protocol.state is State.CLOSED:
        return ws.protocol.close_exc
    return ConnectionError("connection to the CSMS is gone")
