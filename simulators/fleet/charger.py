"""One simulated charger: one task that connects, boots, beats, charges and reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from simulators.fleet.dialects import _V201, POWER_W, Followup, _Dialect, _Session
from simulators.fleet.draws import _Draws
from simulators.fleet.stats import _count
from simulators.fleet.wire import (
    CALL,
    CALLRESULT,
    basic_auth,
    call_frame,
    charger_url,
    error_frame,
    open_connection,
    result_frame,
)

if TYPE_CHECKING:
    from simulators.fleet.runner import Fleet


DEFAULT_HEARTBEAT = 300.0  # when the BootNotification answer gives no usable interval
IDLE_CAP = 60.0  # an idle charger re-checks its clock at least this often
_AVAILABLE, _UNAVAILABLE = "Available", "Unavailable"


class _Dropped(Exception):
    """The charger closed its own connection (a random disconnect, a reset)."""


class _Charger:
    """One simulated charger: one task that connects, boots, beats, charges and reconnects."""

    __slots__ = (
        "fleet", "number", "id", "dialect", "id_tag", "draws", "uri", "headers",
        "ws", "online", "ever_connected", "booted", "has_booted", "boot_reason", "drop", "stormed", "idle",
        "message_id", "status", "available", "session", "meter_wh", "heartbeat_interval",
        "heartbeat_fixed", "next_heartbeat", "next_status", "next_session",
        "next_disconnect", "followups", "task", "reply_deadline", "timed_out",
    )  # fmt: skip

    def __init__(self, fleet: Fleet, number: int, dialect: _Dialect, seed: int) -> None:
        """Charger `number` (1-based) of the fleet."""
        config = fleet.config
        self.fleet = fleet
        self.id = config.charger_id(number)
        self.dialect = dialect
        self.id_tag = config.id_tag(number)
        self.draws = _Draws(seed * 1_000_003 + number)
        self.uri = charger_url(config.url, self.id)
        self.headers = basic_auth(self.id, config.password)
        self.ws: ClientConnection | None = None
        self.online = self.ever_connected = False
        self.booted = False  # boot accepted and not rebooted since
        self.has_booted = False
        self.boot_reason = "PowerUp"
        self.drop: str | None = None  # why we are closing our own connection
        self.stormed: str | None = None  # dropped by the last storm, not online since
        self.idle: asyncio.Timeout | None = None
        self.message_id = 0
        self.status = _AVAILABLE
        self.available = True  # operative (ChangeAvailability)
        self.session: _Session | None = None
        self.meter_wh = float(int(self.draws.uniform(0, 1_000_000)))
        self.heartbeat_interval = config.heartbeat if config.heartbeat is not None else 0.0
        self.heartbeat_fixed = config.heartbeat is not None
        self.next_heartbeat = self.next_status = math.inf
        self.next_session = self.next_disconnect = math.inf
        self.followups: deque[Followup] = deque()
        self.task: asyncio.Task[None] | None = None
        self.reply_deadline = math.inf  # while a CALL of ours waits for its reply
        self.timed_out = False

    @property
    def ocpp(self) -> str:
        return self.dialect.version

    # -- the life of a charger ------------------------------------------------------------------

    async def life(self, first_at: float) -> None:
        fleet, config = self.fleet, self.fleet.config
        if not await fleet.pause_until(first_at):
            return
        failures = 0
        while not fleet.closing:
            if not await self.connect():
                failures += 1
                backoff = self.draws.uniform(*config.reconnect_delay) * min(2**failures, 8)
                await fleet.pause(max(backoff, 0.5))
                continue
            failures = 0
            delay = await self.online_until_dropped()
            if delay is None:
                return
            await fleet.pause(delay)

    async def connect(self) -> bool:
        fleet, stats, config = self.fleet, self.fleet.stats, self.fleet.config
        stats.connect_attempts += 1
        load, reason = False, ""
        try:
            ws = await open_connection(
                self.uri,
                self.dialect.subprotocol,
                headers=self.headers,
                open_timeout=config.connect_timeout,
                close_timeout=2,
            )
        except InvalidStatus as exc:
            code = exc.response.status_code
            load, reason = code in (429, 503), f"HTTP {code}"
        except TimeoutError:
            load, reason = True, "opening handshake timed out"
        except ConnectionRefusedError:
            reason = "connection refused"  # nobody listens: not a sign of load
        except (OSError, EOFError, WebSocketException) as exc:
            # Resets and half-finished handshakes are what an overloaded server does.
            load = isinstance(exc, (ConnectionError, EOFError, WebSocketException))
            reason = type(exc).__name__
        else:
            if ws.subprotocol == self.dialect.subprotocol:
                self.ws = ws
                stats.connects += 1
                if self.ever_connected:
                    stats.reconnects += 1
                else:
                    fleet.ever_connected += 1
                self.ever_connected = True
                fleet.connected += 1
                fleet.changed()
                return True
            reason = f"no common subprotocol (got {ws.subprotocol!r})"
            await ws.close()
        if load:
            stats.refused_load += 1
        else:
            stats.failed_other += 1
        _count(stats.connect_failures, reason)
        return False

    async def online_until_dropped(self) -> float | None:
        """Serve one connection; the pause before reconnecting, or None to end."""
        fleet, config, stats = self.fleet, self.fleet.config, self.fleet.stats
        self.drop = None
        try:
            if not self.booted:
                if not await self.boot(self.boot_reason):
                    return None
            else:
                self.set_online(True)
            await self.serve()
            return None  # the fleet is closing
        except (ConnectionClosed, OSError, _Dropped):
            pass
        finally:
            self.set_online(False)
            fleet.connected -= 1
            ws, self.ws = self.ws, None
            if ws is not None and ws.transport is not None and not ws.transport.is_closing():
                ws.transport.abort()
            fleet.changed()
        why = self.drop or "server"
        _count(stats.disconnects, why)
        if fleet.closing:
            return None
        if why == "reset":
            self.booted, self.boot_reason = False, "RemoteReset"
            return self.draws.uniform(0.1, 1.0)
        if self.draws.random() < config.reboot_chance:
            self.booted, self.boot_reason = False, "PowerUp"
        return 0.0 if why == "storm" else self.draws.uniform(*config.reconnect_delay)

    def set_online(self, online: bool) -> None:
        if online != self.online:
            self.online = online
            self.fleet.online += 1 if online else -1
            if online and self.stormed:
                self.stormed = None
                self.fleet.storm_back += 1
            self.fleet.changed()

    async def boot(self, reason: str) -> bool:
        """BootNotification until Accepted (Pending/Rejected: again after the interval given)."""
        fleet, stats = self.fleet, self.fleet.stats
        loop = asyncio.get_running_loop()
        while not fleet.closing:
            reply = await self.call(*self.dialect.boot(self, reason))
            status = str(reply.get("status")) if reply is not None else "no answer"
            _count(stats.boots, status)
            interval = _positive(reply.get("interval")) if reply is not None else None
            if status == "Accepted":
                if not self.heartbeat_fixed:
                    self.heartbeat_interval = interval or DEFAULT_HEARTBEAT
                now = loop.time()
                self.next_heartbeat = now + self.heartbeat_interval
                self.booted = True
                self.set_online(True)
                if not self.has_booted:
                    self.has_booted = True
                    self.draw_schedule(now)
                if self.session is not None:  # a reboot ends what was charging
                    stats.sessions["interrupted"] += 1
                    await self.end_session("PowerLoss")
                else:
                    await self.send_status()
                return True
            # Follow-ups wait for the boot: a triggered BootNotification is the next one anyway.
            await self.listen_until(loop.time() + min(interval or 10.0, 60.0), for_followups=False)
        return False

    def draw_schedule(self, now: float) -> None:
        config, n, d = self.fleet.config, self.fleet.config.count, self.draws
        self.next_status = now + d.after(config.status_rate / n)
        self.next_session = now + d.after(config.session_rate / n)
        self.next_disconnect = now + d.after(config.disconnect_rate / n)

    async def serve(self) -> None:
        """The charger's own behaviour, due item by due item, until the fleet closes."""
        fleet, config, stats, d = self.fleet, self.fleet.config, self.fleet.stats, self.draws
        loop = asyncio.get_running_loop()
        while True:
            if fleet.closing:
                await self.finish()
                return
            if self.followups:
                await self.follow(self.followups.popleft())
                continue
            now = loop.time()
            s = self.session
            if now >= self.next_disconnect:
                self.next_disconnect = now + d.after(config.disconnect_rate / config.count)
                self.drop = self.drop or "random"  # a storm's drop may not have reached us yet
                assert self.ws is not None
                self.ws.transport.abort()
                raise _Dropped()
            if s is not None and now >= s.ends_at:
                await self.end_session("Local")
                continue
            if s is not None and now >= s.next_meter:
                await self.send_meter(s)
                continue
            if now >= self.next_status:
                self.next_status = now + d.after(config.status_rate / config.count)
                if s is None and self.available:
                    self.status = _UNAVAILABLE if self.status == _AVAILABLE else _AVAILABLE
                    stats.status_changes += 1
                    await self.send_status()
                continue
            if now >= self.next_session:
                self.next_session = now + d.after(config.session_rate / config.count)
                if self.can_start():
                    await self.begin_session(self.id_tag)
                else:
                    stats.sessions["skipped"] += 1
                continue
            if now >= self.next_heartbeat:
                await self.call("Heartbeat", {})
                self.next_heartbeat = loop.time() + self.heartbeat_interval
                continue
            until = min(self.next_heartbeat, self.next_status, self.next_session)
            until = min(until, self.next_disconnect, now + IDLE_CAP)
            if s is not None:
                until = min(until, s.ends_at, s.next_meter)
            await self.listen_until(until)

    async def finish(self) -> None:
        """The run is over: stop what charges, then close politely."""
        if self.session is not None:
            await self.end_session("Local")
        if self.ws is not None:
            await self.ws.close()

    async def follow(self, followup: Followup) -> None:
        """What a CSMS CALL we accepted asks us to do next."""
        kind = followup[0]
        if kind == "start" and self.can_start():
            await self.begin_session(followup[1], remote=True, remote_start_id=followup[2])
        elif kind == "stop" and self.session is not None:
            await self.end_session(followup[1])
        elif kind == "reset":
            if self.session is not None:
                await self.end_session(followup[1])
            self.drop = "reset"
            assert self.ws is not None
            await self.ws.close()
            raise _Dropped()
        elif kind == "trigger":
            message = followup[1]
            if message == "BootNotification":
                await self.call(*self.dialect.boot(self, "Triggered"))
            elif message == "Heartbeat":
                await self.call("Heartbeat", {})
            elif message == "StatusNotification":
                await self.send_status()
            elif message == "MeterValues":
                await self.call(*self.dialect.meter(self, self.session, trigger=True))
        elif kind == "availability":
            self.status = _AVAILABLE if followup[1] else _UNAVAILABLE
            await self.send_status()
        elif kind == "report" and isinstance(self.dialect, _V201):
            await self.call(*self.dialect.report(self, followup[1]))

    def can_start(self) -> bool:
        return self.online and self.session is None and self.available

    def change_availability(self, operative: bool) -> str:
        if self.session is not None and not operative:
            return "Scheduled"
        self.available = operative
        self.followups.append(("availability", operative))
        return "Accepted"

    def set_heartbeat(self, seconds: float) -> None:
        self.heartbeat_interval, self.heartbeat_fixed = seconds, True
        self.next_heartbeat = asyncio.get_running_loop().time() + seconds

    # -- sessions -------------------------------------------------------------------------------

    async def begin_session(
        self, id_tag: str, remote: bool = False, remote_start_id: int | None = None
    ) -> None:
        stats, d = self.fleet.stats, self.dialect
        loop = asyncio.get_running_loop()
        self.status = d.busy_status
        await self.send_status()
        # Remote starts come authorized (AuthorizeRemoteTxRequests / AuthorizeRemoteStart false).
        if not remote and not await self.authorized(id_tag):
            return
        s = _Session(id_tag, remote_start_id)
        reply = await self.call(*d.start(self, s))
        if reply is None:
            stats.sessions["failed"] += 1
            await self.back_to_available()
            return
        verdict = d.started(reply, s)
        if s.transaction_id is None:
            stats.sessions["failed"] += 1
            await self.back_to_available()
            return
        now = loop.time()
        s.last_sample = now
        s.next_meter = now + self.fleet.config.meter_interval
        s.ends_at = now + self.fleet.config.session_seconds
        self.session = s
        stats.sessions["started"] += 1
        self.fleet.changed()
        if verdict != "Accepted":
            stats.sessions["refused"] += 1
            await self.end_session("DeAuthorized")
            return
        if d.charging_status is not None:
            self.status = d.charging_status
            await self.send_status()

    async def authorized(self, id_tag: str) -> bool:
        stats = self.fleet.stats
        reply = await self.call(*self.dialect.authorize(id_tag))
        if reply is None:
            stats.sessions["failed"] += 1
        elif self.dialect.authorized(reply) != "Accepted":
            stats.sessions["refused"] += 1
        else:
            return True
        await self.back_to_available()
        return False

    async def back_to_available(self) -> None:
        self.status = _AVAILABLE if self.available else _UNAVAILABLE
        await self.send_status()

    def sample(self, s: _Session) -> None:
        now = asyncio.get_running_loop().time()
        self.meter_wh += POWER_W * (now - s.last_sample) / 3600.0
        s.last_sample = now

    async def send_meter(self, s: _Session) -> None:
        self.sample(s)
        s.next_meter = asyncio.get_running_loop().time() + self.fleet.config.meter_interval
        await self.call(*self.dialect.meter(self, s))

    async def end_session(self, reason: str) -> None:
        s = self.session
        assert s is not None
        self.sample(s)
        reply = await self.call(*self.dialect.stop(self, s, reason))
        # Given up on a CALLERROR or a timeout too: resending would not change the answer.
        self.session = None
        self.fleet.stats.sessions["ended" if reply is not None else "failed"] += 1
        self.fleet.changed()
        await self.back_to_available()

    async def send_status(self) -> None:
        await self.call(*self.dialect.status(self))

    # -- the wire -------------------------------------------------------------------------------

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Send one CALL and wait for its reply, answering the CSMS's CALLs meanwhile.

        The CALLRESULT payload; None after a CALLERROR or a timeout (both counted). Raises
        ConnectionClosed when the connection goes.
        """
        ws, stats = self.ws, self.fleet.stats
        assert ws is not None
        self.message_id += 1
        message_id = str(self.message_id)
        counts = stats.actions.get(action) or stats.action(action)
        counts.calls += 1
        sent = time.perf_counter()
        # The fleet's watchdog, not a timeout object per CALL (a tenth of the generator's
        # time at full speed), cancels us at this deadline: see Fleet.expire_replies.
        self.reply_deadline = asyncio.get_running_loop().time() + self.fleet.config.reply_timeout
        try:
            await ws.send(call_frame(message_id, action, payload), text=True)
            stats.frames_sent += 1
            while True:
                data = await ws.recv(decode=False)
                stats.frames_received += 1
                frame = self.parse(data)
                if frame is None:
                    continue
                if frame[0] == CALL:
                    await self.answer(frame)
                elif frame[1] == message_id:
                    break
                else:
                    stats.late_replies += 1
        except asyncio.CancelledError:
            if not self.timed_out:
                raise
            self.timed_out = False
            task = asyncio.current_task()
            assert task is not None
            task.uncancel()  # the watchdog's cancellation, taken back
            counts.timeouts += 1
            return None
        except (ConnectionClosed, OSError):
            counts.lost += 1
            raise
        finally:
            self.reply_deadline = math.inf
        latency = time.perf_counter() - sent
        counts.latency.add(latency)
        stats.window.add(latency)
        stats.replies += 1
        if frame[0] == CALLRESULT and len(frame) > 2 and isinstance(frame[2], dict):
            counts.results += 1
            return frame[2]  # type: ignore[no-any-return]
        counts.errors += 1
        code = frame[2] if len(frame) > 2 else "?"
        text = frame[3] if len(frame) > 3 else ""
        _count(stats.error_texts, f"{action}: {code} {str(text)[:80]}".rstrip())
        return None

    async def listen_until(self, until: float, for_followups: bool = True) -> None:
        """Idle until `until` (loop time), answering the CSMS's CALLs; the fleet may wake us.

        Returns early when an answer left something to do (for_followups) or the fleet closes.
        """
        ws, stats = self.ws, self.fleet.stats
        assert ws is not None
        while True:
            try:
                async with asyncio.timeout_at(until) as timeout:
                    self.idle = timeout
                    data = await ws.recv(decode=False)
            except TimeoutError:
                return
            finally:
                self.idle = None
            stats.frames_received += 1
            frame = self.parse(data)
            if frame is not None and frame[0] == CALL:
                await self.answer(frame)
                if self.followups and for_followups:
                    return
            elif frame is not None:
                stats.late_replies += 1
            if self.fleet.closing:
                return

    def wake(self) -> None:
        """End an idle wait now (the fleet closes)."""
        if (timeout := self.idle) is not None:
            with contextlib.suppress(RuntimeError):
                timeout.reschedule(asyncio.get_running_loop().time())

    def parse(self, data: Any) -> list[Any] | None:
        try:
            frame = orjson.loads(data)
        except orjson.JSONDecodeError:
            frame = None
        if not isinstance(frame, list) or len(frame) < 2 or frame[0] not in (2, 3, 4):
            self.fleet.stats.bad_frames += 1
            return None
        return frame

    async def answer(self, frame: list[Any]) -> None:
        stats = self.fleet.stats
        action = frame[2] if len(frame) > 2 and isinstance(frame[2], str) else "?"
        payload = frame[3] if len(frame) > 3 and isinstance(frame[3], dict) else {}
        _count(stats.server_calls, action)
        result = self.dialect.answer(self, action, payload)
        if result is None:
            reply = error_frame(frame[1], "NotImplemented", f"{action} is not simulated")
        else:
            reply = result_frame(frame[1], result)
        assert self.ws is not None
        await self.ws.send(reply, text=True)
        stats.frames_sent += 1


def _positive(value: Any) -> float | None:
    """A positive number of seconds from a peer's answer, or None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None
