"""One charger's WebSocket: frame checks, flood control, audit, and the reader that keeps calls and handlers apart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import ocpp.messages
import orjson
from ocpp.charge_point import ChargePoint
from ocpp.exceptions import OCPPError
from ocpp.v16.enums import Action as Action16
from ocpp.v201.enums import Action as Action201
from starlette.websockets import WebSocket, WebSocketDisconnect

from csms import hot_path, metrics
from csms.config import CsmsConfig
from csms.tasks import finish
from csms.validation import checker

if TYPE_CHECKING:
    from csms.messagelog import MessageLog
    from csms.store import Store

log = logging.getLogger(__name__)

# The library validates each CALL and each reply against its JSON schema in a thread of the
# default executor: two thread hops, two wake-ups of the loop and a GIL hand-over per
# message, for a validation that takes tens of microseconds (bench/RESULTS.md, fifth run).
# Frames are bounded by CPO_WS_MAX_SIZE, so none validates for long on the loop's thread.
ocpp.messages.ASYNC_VALIDATION = False


class _ProtocolAnswers(logging.Filter):
    """The library logs a traceback for every CALLERROR it answers; those are replies, not faults."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, OCPPError):
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = f"{record.msg}: answered {exc.code}"
        return True


logging.getLogger("ocpp").addFilter(_ProtocolAnswers())

CALL, CALLRESULT, CALLERROR = 2, 3, 4

# The error code each version uses for each kind of broken frame.
_ERRORS = {
    "1.6": {
        "unreadable": "FormationViolation",
        "structure": "ProtocolError",
        "message_type": "ProtocolError",
        "security": "SecurityError",
        "flood": "GenericError",
    },
    "2.0.1": {
        "unreadable": "RpcFrameworkError",
        "structure": "RpcFrameworkError",
        "message_type": "MessageTypeNotSupported",
        "security": "SecurityError",
        "flood": "GenericError",
    },
}

_ACTIONS = {
    "1.6": frozenset(a.value for a in Action16),
    "2.0.1": frozenset(a.value for a in Action201),
}

# Error codes a charger's CALLERROR may carry that we count by name; any other is "CallError"
# (a label per made-up code would let one charger grow the metrics without end).
_KNOWN_CODES = frozenset(code for codes in _ERRORS.values() for code in codes.values()) | frozenset(
    {
        "FormatViolation",
        "FormationViolation",
        "InternalError",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "OccurenceConstraintViolation",
        "PropertyConstraintViolation",
        "TypeConstraintViolation",
    }
)

MAX_MESSAGE_ID = 36  # OCPP-J: a message id is a string of at most 36 characters
MAX_DESCRIPTION = 255  # OCPP-J 2.0.1: errorDescription is a string of at most 255 characters
CLOSE_POLICY = 1008  # RFC 6455: policy violation (a flood)
REPLY_GRACE = 1.0  # seconds a reply that arrived just before a close may take to be checked


class TokenBucket:
    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class StationConnection:
    """The connection object the `ocpp` ChargePoint talks through (`recv` is unused: we read).

    A reader task reads every frame. The reply to our one outstanding CALL goes straight to the
    library's response queue; the charger's CALLs go to a worker that handles them one at a
    time. So a handler that sends a CALL to its own charger still gets the reply (no deadlock),
    and a slow handler does not stop pongs, closes or replies from being read.

    Every other frame (a reply to nothing we are waiting for, broken JSON, a binary frame)
    is logged, answered where OCPP says so, and forgotten; it takes from the same flood budget
    as a CALL, so a charger that sends nothing but such frames is throttled and then cut off.

    An idle charger costs little (a server holds tens of thousands): the worker exists only
    while there are CALLs to handle, and a connection keeps no queue and no other task.
    """

    __slots__ = (
        "websocket",
        "station_id",
        "ocpp_version",
        "config",
        "store",
        "message_log",
        "accepted",
        "energy_unit_override",
        "charge_point",
        "closed",
        "close_reason",
        "status_seen",
        "_errors",
        "_known_actions",
        "_bucket",
        "_strikes",
        "_pending",
        "_worker",
        "_timer",
        "_send_lock",
        "_their_call",
        "_our_call",
        "_call_lock",
    )

    def __init__(
        self,
        websocket: WebSocket,
        station_id: str,
        ocpp_version: str,
        config: CsmsConfig,
        store: Store,
        message_log: MessageLog,
        accepted: bool,
        energy_unit_override: str | None = None,
    ) -> None:
        self.websocket = websocket
        self.station_id = station_id
        self.ocpp_version = ocpp_version
        self.config = config
        self.store = store
        self.message_log = message_log
        # Whether the platform ever accepted this charger's BootNotification, and did not
        # answer its last one Pending (csms.provisioning).
        self.accepted = accepted
        self.energy_unit_override = energy_unit_override
        self.charge_point: ChargePoint | None = None
        self.closed = asyncio.Event()
        self.close_reason = "closed by the charger"
        self._errors = _ERRORS[ocpp_version]
        self._known_actions = _ACTIONS[ocpp_version]
        self._bucket = TokenBucket(config.rate_limit, config.rate_burst)
        self._strikes = 0
        # The charger's CALLs not handled yet, and the task handling them (only while any): the
        # frame, its id and action, and for a hot action (csms.hot_path) its route and its
        # checked payload.
        self._pending: list[
            tuple[str, str, str, tuple[hot_path.HotRoute, dict[str, Any]] | None]
        ] = []
        self._worker: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._send_lock = asyncio.Lock()
        # The charger's CALL being handled and our CALL awaiting its reply (id, action): one
        # of each at a time.
        self._their_call: tuple[str, str, float] | None = None
        self._our_call: tuple[str, str] | None = None
        self._call_lock = asyncio.Lock()
        self.status_seen = False  # a StatusNotification came since the last boot

    # -- the library's side of the connection ----------------------------------------------

    async def recv(self) -> str:  # pragma: no cover - the library's start() loop is not used
        raise RuntimeError("StationConnection reads frames itself")

    async def send_result(self, text: str, message_id: str, action: str) -> None:
        """`send` for a CALLRESULT the hot path built: its id and action known, nothing to peek."""
        if self._their_call and self._their_call[0] == message_id:
            metrics.handler_latency(action).observe(time.perf_counter() - self._their_call[2])
            metrics.messages("in", action, "ok").inc()
        self.message_log.append(self.station_id, "out", text, CALLRESULT, action, message_id)
        async with self._send_lock:
            await self.websocket.send_text(text)

    async def send(self, text: str) -> None:
        message_type, message_id, action = _peek(text)
        if message_type == CALLERROR and self.ocpp_version == "1.6":
            text = _spell_16(text)
        if message_type == CALL and message_id and action:
            self._our_call = (message_id, action)
        elif (
            message_type in (CALLRESULT, CALLERROR)
            and self._their_call
            and self._their_call[0] == message_id
        ):
            action, started = self._their_call[1], self._their_call[2]
            metrics.handler_latency(action).observe(time.perf_counter() - started)
            result = "ok" if message_type == CALLRESULT else _error_code(text)
            metrics.messages("in", action, result).inc()
        self.message_log.append(self.station_id, "out", text, message_type, action, message_id)
        async with self._send_lock:
            await self.websocket.send_text(text)

    # -- running ---------------------------------------------------------------------------

    async def run(self, charge_point: ChargePoint) -> None:
        """Serve the connection until it closes."""
        self.charge_point = charge_point
        try:
            await self._read()
        finally:
            self.closed.set()
            if self._timer is not None:
                self._timer.cancel()
            # The message in hand is finished first (the worker takes no other once closed):
            # cancelled inside its database transaction, SQLAlchemy would throw the connection
            # away mid-statement (see BatchedLog.stop).
            if self._worker is not None:
                await finish(self._worker)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.close_reason = reason or self.close_reason
        with contextlib.suppress(Exception):
            await self.websocket.close(code, reason)

    async def _read(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                self.close_reason = f"closed by the charger ({message.get('code', 1005)})"
                return
            text = message.get("text")
            if text is None:
                raw = message.get("bytes") or b""
                text = raw.decode("utf-8", errors="replace")
                await self._reject(None, "unreadable", "OCPP-J frames are text frames", text)
                continue
            self.store.seen(self.station_id)
            await self._dispatch(text)

    async def _dispatch(self, text: str) -> None:
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            await self._reject(None, "unreadable", "frame is not valid JSON", text)
            return
        if not isinstance(frame, list) or len(frame) < 3 or not isinstance(frame[1], str):
            message_id = (
                frame[1]
                if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str)
                else None
            )
            await self._reject(
                message_id, "structure", "frame is not an OCPP-J message array", text
            )
            return
        message_type, message_id = frame[0], frame[1]
        if message_type in (CALLRESULT, CALLERROR):
            await self._reply(frame, text)
            return
        if len(message_id) > MAX_MESSAGE_ID:
            # Not an id we may echo (our answer would break the same rule): answered as "-1".
            await self._reject(
                None, "structure", f"a message id is at most {MAX_MESSAGE_ID} characters", text
            )
            return
        if message_type == CALL:
            if len(frame) != 4 or not isinstance(frame[2], str) or not isinstance(frame[3], dict):
                await self._reject(
                    message_id, "structure", "a CALL is [2, id, action, {payload}]", text
                )
                return
            action = frame[2]
            self.message_log.append(self.station_id, "in", text, CALL, action[:64], message_id)
            if not self._admit():
                await self._flood(message_id, action)
                return
            if action not in self.charge_point.route_map:  # type: ignore[union-attr]
                # OCPP-J: NotImplemented = an action we do not know; NotSupported = one we know
                # but do not handle. (The library swaps the two.)
                code = "NotSupported" if action in self._known_actions else "NotImplemented"
                metrics.messages(
                    "in", action if action in self._known_actions else "unknown", code
                ).inc()
                await self._send_error(
                    message_id,
                    code,
                    f"{action} is not {'supported' if code == 'NotSupported' else 'implemented'} by this CSMS",
                )
                return
            if not self.accepted and action != "BootNotification":
                metrics.messages("in", action, "SecurityError").inc()
                await self._send_error(
                    message_id,
                    self._errors["security"],
                    "BootNotification has not been accepted yet",
                )
                return
            routes = self.charge_point.route_map  # type: ignore[union-attr]
            try:
                payload = checker(self.ocpp_version, action, routes.leniency(action)).check(
                    frame[3]
                )
            except OCPPError as error:
                metrics.messages("in", action, error.code).inc()
                await self._send_error(message_id, error.code, str(error.details.get("cause")))
                return
            hot = hot_path.route(type(self.charge_point), routes.table, action)
            if hot is not None and self.config.hot_path:
                # The hot path takes the checked payload itself (and never reads `text`).
                self._pending.append((text, message_id, action, (hot, payload)))
            else:
                if payload != frame[3]:
                    # What a lenient handler forgave (a number sent as a string, a null) goes
                    # to the library in the form the schema names.
                    text = orjson.dumps([CALL, message_id, action, payload]).decode()
                self._pending.append((text, message_id, action, None))
            if self._worker is None or self._worker.done():
                self._worker = asyncio.create_task(
                    self._work(), name=f"ocpp-worker-{self.station_id}"
                )
        else:
            await self._reject(
                message_id, "message_type", f"message type {message_type!r} is not supported", text
            )

    async def _reply(self, frame: list[Any], text: str) -> None:
        """A CALLRESULT or CALLERROR: to the library only when it answers our outstanding CALL.

        Anything else (an id we never sent, a reply to a call that timed out, a second reply)
        would wait in the library's response queue for a call that never takes it.
        """
        message_type, message_id = frame[0], frame[1]
        ours = self._our_call
        if ours is not None and ours[0] == message_id and _well_formed_reply(frame):
            self._our_call = None
            self.message_log.append(self.station_id, "in", text, message_type, ours[1], message_id)
            result = "ok" if message_type == CALLRESULT else _known_code(frame[2])
            metrics.messages("out", ours[1], result).inc()
            assert self.charge_point is not None
            await self.charge_point.route_message(text)
            return
        self.message_log.append(self.station_id, "in", text, message_type, None, message_id)
        metrics.messages("in", "reply", "unsolicited").inc()
        if not self._admit():
            await self._throttle("unsolicited replies")

    async def _work(self) -> None:
        """The charger's CALLs, one at a time, until none is left or the connection closed."""
        assert self.charge_point is not None
        while self._pending and not self.closed.is_set():
            text, message_id, action, hot = self._pending.pop(0)
            self._their_call = (message_id, action, time.perf_counter())
            try:
                if hot is not None:
                    await hot_path.answer(self.charge_point, self, *hot, message_id, action)
                else:
                    await self.charge_point.route_message(text)
            except WebSocketDisconnect:
                return
            except Exception:
                log.exception("%s: handling %s failed", self.station_id, action)
                with contextlib.suppress(Exception):
                    await self._send_error(
                        message_id, "InternalError", "the CSMS failed to handle this message"
                    )
            finally:
                self._their_call = None

    def _admit(self) -> bool:
        """Whether the flood budget allows one more frame from the charger."""
        if self._bucket.take():
            self._strikes = 0
            return True
        return False

    async def _flood(self, message_id: str, action: str) -> None:
        known = action if action in self._known_actions else "unknown"
        metrics.messages("in", known, "rate_limited").inc()
        await self._send_error(message_id, self._errors["flood"], "rate limit exceeded: slow down")
        await self._throttle("message flood")

    async def _throttle(self, what: str) -> None:
        """One frame over the budget: a strike; as many strikes as the burst end the connection."""
        self._strikes += 1
        if self._strikes == self.config.rate_burst:
            log.warning("%s: closing a flooding connection (%s)", self.station_id, what)
            await self.close(CLOSE_POLICY, "message flood")

    async def _reject(self, message_id: str | None, kind: str, description: str, text: str) -> None:
        self.message_log.append(self.station_id, "in", text, None, None, message_id)
        metrics.messages("in", "invalid", self._errors[kind]).inc()
        if not self._admit():
            await self._throttle("broken frames")  # over the budget: not even an answer
            return
        log.info("%s: bad frame (%s): %.200s", self.station_id, description, text)
        # 2.0.1 (and common practice in 1.6): a frame whose id cannot be read is answered as "-1".
        await self._send_error(message_id or "-1", self._errors[kind], description)

    async def _send_error(self, message_id: str, code: str, description: str) -> None:
        description = description[:MAX_DESCRIPTION]
        await self.send(orjson.dumps([CALLERROR, message_id, code, description, {}]).decode())

    # -- our CALLs to the charger --------------------------------------------------------------

    async def call(self, payload: Any, timeout: float | None = None) -> Any:
        """Send a CALL and return the library's call_result.

        Raises TimeoutError when there is no reply in time (waiting for an earlier call of ours
        included), ConnectionError when the socket closes meanwhile, and the library's OCPPError
        for a CALLERROR.
        """
        assert self.charge_point is not None
        if self.closed.is_set():
            raise ConnectionError("the charger is not connected")
        timeout = timeout if timeout is not None else self.config.response_timeout
        call = asyncio.ensure_future(self._locked_call(payload))
        gone = asyncio.ensure_future(self.closed.wait())
        try:
            done, _ = await asyncio.wait(
                {call, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            gone.cancel()
        if gone in done and call not in done:
            # A charger may answer and close at once (Reset): a reply already in hand wins.
            await asyncio.wait({call}, timeout=REPLY_GRACE)
        if call.done():
            return call.result()
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await call
        if gone in done:
            raise ConnectionError("the charger disconnected before answering")
        raise TimeoutError(f"no answer within {timeout:g} s")

    async def _locked_call(self, payload: Any) -> Any:
        assert self.charge_point is not None
        async with self._call_lock:
            try:
                return await self.charge_point.call(payload, suppress=False)
            finally:
                # Answered, timed out or cancelled: a reply that comes now answers nothing,
                # and one that slipped into the queue meanwhile is nobody's.
                self._our_call = None
                self.charge_point.drop_replies()

    def later(self, delay: float, callback: Callable[[], object]) -> None:
        """Call `callback` in `delay` seconds unless the connection closes first; replaces a
        callback set before (a timer, not a sleeping task: most connections are idle)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, callback)

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """A follow-up (a CALL after a reply) that must not hold up the message loop."""
        task = asyncio.ensure_future(coro)
        task.set_name(f"{name}-{self.station_id}")
        task.add_done_callback(_log_failure)
        return task


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.info("%s failed: %r", task.get_name(), exc)


def _peek(text: str) -> tuple[int | None, str | None, str | None]:
    """Message type, id and action of a frame we built or already checked."""
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None, None, None
    message_type = frame[0] if frame and isinstance(frame[0], int) else None
    message_id = frame[1] if len(frame) > 1 and isinstance(frame[1], str) else None
    action = frame[2] if message_type == CALL and len(frame) > 2 else None
    return message_type, message_id, action


# The library answers 1.6 chargers with 2.0.1 spellings; 1.6 keeps its own (typos included).
_CODES_16 = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}


def _spell_16(text: str) -> str:
    frame = orjson.loads(text)
    if len(frame) > 2 and frame[2] in _CODES_16:
        frame[2] = _CODES_16[frame[2]]
        return orjson.dumps(frame).decode()
    return text


def _error_code(text: str) -> str:
    try:
        return str(orjson.loads(text)[2])
    except Exception:
        return "CallError"


def _known_code(code: object) -> str:
    return code if isinstance(code, str) and code in _KNOWN_CODES else "CallError"


def _well_formed_reply(frame: list[Any]) -> bool:
    """[3, id, {payload}] or [4, id, code, description, details], as OCPP-J has them."""
    if frame[0] == CALLRESULT:
        return len(frame) == 3 and isinstance(frame[2], dict)
    return len(frame) == 5 and isinstance(frame[2], str)
