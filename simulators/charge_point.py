"""ChargePointSimulator: a scriptable OCPP 1.6J / 2.0.1 charger that reaches a CSMS over the wire."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Coroutine
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import quote

from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.protocol import State
from websockets.typing import Subprotocol

from simulators import v16, v201
from simulators.common import (
    BATTERY_WH,
    START_SOC,
    VOLTAGE_V,
    CallErrorReceived,
    Reading,
    SessionRejected,
    SimTransaction,
    utc_now,
)

__all__ = ["CallErrorReceived", "ChargePointSimulator", "SessionRejected", "SimTransaction"]

LOG = logging.getLogger("simulators")
T = TypeVar("T")


class Adapter(Protocol):
    """What simulators.v16 / simulators.v201 provide for one live connection."""

    async def route_message(self, raw_msg: str) -> None: ...
    async def call(
        self, payload: Any, suppress: bool = ..., unique_id: str | None = ...
    ) -> Any: ...
    async def boot(self, reason: str) -> str: ...
    async def heartbeat(self) -> str: ...
    async def status(self, evse_id: int, status: str, error_code: str) -> None: ...
    async def authorize(self, id_tag: str, token_type: str) -> str: ...
    async def start(
        self,
        evse_id: int,
        id_tag: str,
        reading: Reading,
        remote_start_id: int | None,
        reservation_id: int | None,
        token_type: str,
    ) -> SimTransaction: ...
    async def meter(
        self, evse_id: int, reading: Reading, tx: SimTransaction | None, context: str
    ) -> None: ...
    async def stop(
        self, tx: SimTransaction, reading: Reading, reason: str, id_tag: str | None
    ) -> str | None: ...


class ChargePointSimulator:
    """One simulated charge point: scripted from Python, and answering CSMS CALLs like a charger.

    Tune its answers with `answers` (action -> status), `silent` (never answer) and `errors`
    (action -> CALLERROR code); `configuration` (1.6) / `variables` (2.0.1) back the
    Get/Change configuration and Get/SetVariables requests.
    """

    def __init__(
        self,
        id: str,
        url: str = "ws://127.0.0.1:8000/ocpp",
        ocpp: str = "1.6",
        password: str | None = None,
        evses: int = 1,
        vendor: str = "CPOSim",
        model: str = "Sim-1",
        serial: str = "SIM-0001",
        firmware: str = "1.0.0",
        power_w: float = 11000.0,
        response_timeout: float = 10.0,
    ) -> None:
        if ocpp not in ("1.6", "2.0.1"):
            raise ValueError(f"unsupported OCPP version {ocpp!r} (use '1.6' or '2.0.1')")
        self.id = id
        self.url = url
        self.ocpp = ocpp
        self.password = password
        self.evse_ids = list(range(1, evses + 1))
        self.vendor, self.model, self.serial, self.firmware = vendor, model, serial, firmware
        self.power_w = power_w
        self.response_timeout = response_timeout
        # When the server drops us (not a Reset), come back with back-off like a field unit.
        self.reconnect = False

        self.subprotocol: str | None = None
        self.registration: str | None = None
        self.heartbeat_interval = 300
        self.transactions: dict[int, SimTransaction] = {}
        self.reservations: dict[int, dict[str, Any]] = {}
        self.statuses: dict[int, str] = {}
        self.answers: dict[str, str] = {}
        self.silent: set[str] = set()
        self.errors: dict[str, str] = {}
        self.received_calls: list[tuple[str, dict[str, Any]]] = []
        self.configuration: dict[str, str] = (
            v16.default_configuration(self) if ocpp == "1.6" else {}
        )
        self.variables: dict[tuple[str, str], str] = (
            v201.default_variables(self) if ocpp == "2.0.1" else {}
        )

        self._register: dict[int, float] = {}
        self._soc: dict[int, float] = {}
        self._clock: dict[int, datetime] = {}
        self._inoperative: set[int] = set()
        self._reset_when_idle = False
        self._starting = 0
        self._started = asyncio.Event()
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

    async def __aenter__(self) -> ChargePointSimulator:
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
        )
        adapter: Adapter
        if self.ocpp == "1.6":
            adapter = v16.ChargePoint16(self, ws)
        else:
            adapter = v201.ChargePoint201(self, ws)
        closed = asyncio.Event()
        self._ws, self._cp, self._conn_closed = ws, adapter, closed
        self.subprotocol = ws.subprotocol
        self._recv_task = asyncio.create_task(self._receive(ws, adapter, closed))

    async def _drop(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._recv_task is not None:
            await self._recv_task
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

    # ------------------------------------------------------------------ messages

    async def boot(self) -> str:
        return await self._boot("PowerUp")

    async def _boot(self, reason: str) -> str:
        _, cp, _ = self._live()
        self.registration = await cp.boot(reason)
        return self.registration

    async def heartbeat(self) -> str:
        _, cp, _ = self._live()
        return await cp.heartbeat()

    async def status(self, evse_id: int, status: str, error_code: str = "NoError") -> None:
        _, cp, _ = self._live()
        self.statuses[evse_id] = status
        await cp.status(evse_id, status, error_code)

    async def authorize(self, id_tag: str) -> str:
        _, cp, _ = self._live()
        return await cp.authorize(id_tag, "ISO14443")

    async def start_transaction(
        self,
        evse_id: int,
        id_tag: str,
        remote_start_id: int | None = None,
        reservation_id: int | None = None,
    ) -> SimTransaction:
        return await self._start(evse_id, id_tag, remote_start_id, reservation_id, "ISO14443")

    async def _start(
        self,
        evse_id: int,
        id_tag: str,
        remote_start_id: int | None,
        reservation_id: int | None,
        token_type: str,
        at: datetime | None = None,
    ) -> SimTransaction:
        _, cp, _ = self._live()
        if reservation_id is None:
            # A driver holding a reservation on this EVSE consumes it, as a real charger reports.
            reservation_id = next(
                (
                    rid
                    for rid, r in self.reservations.items()
                    if r["evse_id"] == evse_id and r["id_tag"].lower() == id_tag.lower()
                ),
                None,
            )
        self._soc[evse_id] = START_SOC
        reading = self._sample(evse_id, 0.0, at)
        self._starting += 1
        self._started.clear()
        try:
            tx = await cp.start(
                evse_id, id_tag, reading, remote_start_id, reservation_id, token_type
            )
            self.transactions[evse_id] = tx
        finally:
            self._starting -= 1
            if not self._starting:
                self._started.set()
        if reservation_id is not None:
            self.reservations.pop(reservation_id, None)
        return tx

    async def send_meter_values(self, evse_id: int, seconds: float = 60.0) -> None:
        await self._meter(evse_id, seconds, "Sample.Periodic")

    async def _meter(
        self, evse_id: int, seconds: float, context: str, tx_event: bool = True
    ) -> None:
        _, cp, _ = self._live()
        tx = self.transactions.get(evse_id)
        reading = self._sample(evse_id, seconds if tx else 0.0)
        await cp.meter(evse_id, reading, tx if tx_event else None, context)

    async def stop_transaction(
        self, evse_id: int, reason: str = "Local", id_tag: str | None = None
    ) -> str | None:
        _, cp, _ = self._live()
        if evse_id not in self.transactions:
            raise KeyError(f"{self.id}: no open transaction on EVSE {evse_id}")
        reading = self._sample(evse_id, 0.0)
        # The car is already unplugged whatever the CSMS answers, so forget it before sending.
        tx = self.transactions.pop(evse_id)
        tx.meter_stop_wh = reading.energy_wh
        return await cp.stop(tx, reading, reason, id_tag)

    async def run_session(
        self,
        evse_id: int,
        id_tag: str,
        meter_updates: int = 3,
        seconds_per_update: float = 60.0,
        *,
        pause: float = 0.0,
    ) -> SimTransaction:
        """A driver's visit; with pause > 0 it also waits that long (real time) between samples."""
        status = await self.authorize(id_tag)
        if status != "Accepted":
            raise SessionRejected(status)
        # Without real pauses, back-date the start so the simulated session ends now, not in the future.
        at = (
            None if pause > 0 else utc_now() - timedelta(seconds=meter_updates * seconds_per_update)
        )
        await self.status(evse_id, "Preparing")
        tx = await self._start(evse_id, id_tag, None, None, "ISO14443", at)
        if tx.status != "Accepted" and self._stop_on_invalid():
            await self._finish(evse_id, "DeAuthorized")
            return tx
        await self.status(evse_id, "Charging")
        for _ in range(meter_updates):
            if pause > 0:
                await asyncio.sleep(pause)
            if self.transactions.get(evse_id) is not tx:
                return tx  # the CSMS stopped it remotely meanwhile
            await self.send_meter_values(evse_id, seconds_per_update)
        if self.transactions.get(evse_id) is tx:
            await self._finish(evse_id, "Local")
        return tx

    def meter_wh(self, evse_id: int) -> int:
        return int(self._register.get(evse_id, 0.0))

    def _sample(self, evse_id: int, seconds: float, at: datetime | None = None) -> Reading:
        """Advance the EVSE's simulated clock and meter; the clock never runs backwards."""
        last = self._clock.get(evse_id)
        if at is not None:
            clock = max(at, last) if last is not None else at
        elif seconds > 0 and last is not None:
            clock = last + timedelta(seconds=seconds)
        else:
            clock = max(last, utc_now()) if last is not None else utc_now()
        self._clock[evse_id] = clock
        charging = evse_id in self.transactions
        if charging and seconds > 0:
            wh = self.power_w * seconds / 3600.0
            self._register[evse_id] = self._register.get(evse_id, 0.0) + wh
            self._soc[evse_id] = min(
                100.0, self._soc.get(evse_id, START_SOC) + wh / BATTERY_WH * 100
            )
        power = self.power_w if charging else 0.0
        phases = 3 if self.power_w > 7400 else 1
        return Reading(
            timestamp=clock,
            energy_wh=self.meter_wh(evse_id),
            power_w=round(power, 1),
            current_a=round(power / (VOLTAGE_V * phases), 1),
            voltage_v=VOLTAGE_V,
            soc=round(self._soc.get(evse_id, START_SOC), 1) if charging else None,
        )

    # ------------------------------------------------------------------ charger behaviour

    def _answer(self, action: str, default: str) -> str:
        return self.answers.get(action, default)

    def _stop_on_invalid(self) -> bool:
        """StopTransactionOnInvalidId / TxCtrlr.StopTxOnInvalidId (off unless configured)."""
        if self.ocpp == "1.6":
            return self.configuration.get("StopTransactionOnInvalidId") == "true"
        return self.variables.get(("TxCtrlr", "StopTxOnInvalidId")) == "true"

    def _idle_status(self, evse_id: int) -> str:
        if evse_id in self._inoperative:
            return "Unavailable"
        if any(r["evse_id"] == evse_id for r in self.reservations.values()):
            return "Reserved"
        return "Available"

    def _can_start(self, evse_id: int, id_tag: str) -> bool:
        if evse_id not in self.evse_ids or evse_id in self.transactions:
            return False
        if evse_id in self._inoperative or self.statuses.get(evse_id) == "Faulted":
            return False
        return all(
            r["evse_id"] != evse_id or r["id_tag"].lower() == id_tag.lower()
            for r in self.reservations.values()
        )

    def _free_evse(self, id_tag: str) -> int | None:
        return next((e for e in self.evse_ids if self._can_start(e, id_tag)), None)

    def _tx_evse(self, transaction_id: str) -> int | None:
        return next(
            (e for e, tx in self.transactions.items() if tx.transaction_id == transaction_id), None
        )

    async def _find_tx(self, transaction_id: str) -> int | None:
        """The EVSE of an open transaction, waiting out a start whose reply is still on its way."""
        evse_id = self._tx_evse(transaction_id)
        if evse_id is None and self._starting:
            # The CSMS may learn the id (and send a RemoteStop for it) before our
            # StartTransaction / TransactionEvent reply has been read here.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._started.wait(), self.response_timeout)
            evse_id = self._tx_evse(transaction_id)
        return evse_id

    def _reservation_status(self, evse_id: int | None, reservation_id: int) -> str:
        if evse_id is None or evse_id not in self.evse_ids:
            return "Rejected"
        if evse_id in self._inoperative:
            return "Unavailable"
        if self.statuses.get(evse_id) == "Faulted":
            return "Faulted"
        # The same reservation id may be re-sent to replace (move) a reservation.
        held = any(
            r["evse_id"] == evse_id for rid, r in self.reservations.items() if rid != reservation_id
        )
        if evse_id in self.transactions or held:
            return "Occupied"
        return "Accepted"

    async def _finish(self, evse_id: int, reason: str) -> None:
        """Stop (if still open), then the cable comes out."""
        if evse_id in self.transactions:
            await self.stop_transaction(evse_id, reason)
        await self.status(evse_id, "Finishing")
        await self.status(evse_id, self._idle_status(evse_id))
        if self._reset_when_idle and not self.transactions:
            # A 2.0.1 Reset OnIdle answered "Scheduled" happens now.
            self._reset_when_idle = False
            self._spawn(self._reboot("ImmediateReset", "RemoteReset"))

    async def _remote_start(
        self, evse_id: int, id_tag: str, remote_start_id: int | None, token_type: str, check: bool
    ) -> None:
        if check:
            _, cp, _ = self._live()
            if await cp.authorize(id_tag, token_type) != "Accepted":
                return
        await self.status(evse_id, "Preparing")
        tx = await self._start(evse_id, id_tag, remote_start_id, None, token_type)
        if tx.status != "Accepted" and self._stop_on_invalid():
            await self._finish(evse_id, "DeAuthorized")
        else:
            await self.status(evse_id, "Charging")

    async def _set_availability(self, evse_ids: list[int], operative: bool) -> None:
        for evse_id in evse_ids:
            if operative:
                self._inoperative.discard(evse_id)
            else:
                self._inoperative.add(evse_id)
            # A busy EVSE changes once its transaction ends (the "Scheduled" answer).
            if evse_id not in self.transactions:
                await self.status(evse_id, self._idle_status(evse_id))

    async def _trigger(self, message: str, evse_ids: list[int]) -> None:
        if message == "BootNotification":
            await self._boot("Triggered")
        elif message == "Heartbeat":
            await self.heartbeat()
        elif message == "StatusNotification":
            for evse_id in evse_ids:
                await self.status(evse_id, self.statuses.get(evse_id, self._idle_status(evse_id)))
        elif message == "MeterValues":
            # 2.0.1 answers a MeterValues trigger with MeterValues, never a TransactionEvent.
            for evse_id in evse_ids:
                await self._meter(evse_id, 0.0, "Trigger", tx_event=self.ocpp == "1.6")
        elif message == "TransactionEvent":
            for evse_id in evse_ids:
                if evse_id in self.transactions:
                    await self._meter(evse_id, 0.0, "Trigger")

    async def _reboot(self, stop_reason: str, boot_reason: str) -> None:
        """What a Reset does: end transactions, drop the socket, come back and boot."""
        self._rebooting = True
        try:
            for evse_id in list(self.transactions):
                with contextlib.suppress(Exception):
                    await self.stop_transaction(evse_id, stop_reason)
            await self._drop()
            await self._reconnect()
        finally:
            self._rebooting = False
        if await self._boot(boot_reason) == "Accepted":
            for evse_id in self.evse_ids:
                await self.status(evse_id, self._idle_status(evse_id))

    async def _come_back(self) -> None:
        """After a server-side drop: reconnect and report state, without a BootNotification."""
        await self._reconnect(attempts=None)
        for evse_id in self.evse_ids:
            status = "Charging" if evse_id in self.transactions else self._idle_status(evse_id)
            await self.status(evse_id, status)


def _error_parts(frame: list[Any]) -> tuple[str, str, Any]:
    code = str(frame[2]) if len(frame) > 2 else "GenericError"
    description = str(frame[3]) if len(frame) > 3 else ""
    details = frame[4] if len(frame) > 4 else {}
    return code, description, details


def _closed_error(ws: ClientConnection) -> Exception:
    if ws.protocol.state is State.CLOSED:
        return ws.protocol.close_exc
    return ConnectionError("connection to the CSMS is gone")
