"""The fleet: its chargers launched, watched, stormed and stopped, its summary, and the generator's own ceiling."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from simulators.fleet.charger import _Charger
from simulators.fleet.config import MAX_SECONDS, FleetConfig
from simulators.fleet.dialects import V16, V201
from simulators.fleet.echo import echo_server
from simulators.fleet.stats import FleetStats, Latencies, Progress, _count


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


class Fleet:
    """Thousands of simulated chargers against one CSMS, scriptable from Python.

        fleet = Fleet(FleetConfig(url="ws://127.0.0.1:8000/ocpp", count=1000, session_rate=5))
        summary = await fleet.run()          # start, run config.seconds, stop

    or step by step: `await fleet.start()`, `await fleet.wait_connected()`, `fleet.storm()`,
    `await fleet.stop()` (which returns the summary).
    """

    def __init__(
        self, config: FleetConfig, on_progress: Callable[[Progress], None] | None = None
    ) -> None:
        self.config = config
        self.seed = (
            config.seed if config.seed is not None else random.SystemRandom().getrandbits(32)
        )
        self.on_progress = on_progress
        self.stats = FleetStats()
        self.connected = 0  # chargers with an open connection
        self.online = 0  # of those, with an accepted BootNotification
        self.ever_connected = 0
        self.storm_back = 0  # chargers the last storm dropped that are online again since
        self.closing = False
        self.last_progress: Progress | None = None
        self.peak_rate = 0.0
        picker = random.Random(self.seed)
        count = config.count
        newer = set(picker.sample(range(1, count + 1), round(config.mix * count)))
        self.chargers = [
            _Charger(self, n, V201 if n in newer else V16, self.seed) for n in range(1, count + 1)
        ]
        self._closed_event: asyncio.Event | None = None
        self._changed: asyncio.Event | None = None
        self._finished: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._helpers: list[asyncio.Task[None]] = []
        self._started_at = self._stopped_at = 0.0
        self._cpu_from = self._cpu_to = 0.0
        self._summary: dict[str, Any] | None = None
        self._at_stop: tuple[int, int, int] | None = None  # connected, booted, replies

    # -- control ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Launch every charger (staggered or at once); returns at once."""
        if self._tasks:
            raise RuntimeError("this fleet has already started")
        _raise_file_limit(self.config.count + 64)
        loop = asyncio.get_running_loop()
        self._closed_event, self._changed = asyncio.Event(), asyncio.Event()
        self._finished = asyncio.Event()
        self._started_at, self._cpu_from = time.perf_counter(), _cpu_seconds()
        now = loop.time()
        staggered = self.config.connect == "staggered"
        for i, charger in enumerate(self.chargers):
            first = now + i / self.config.connect_rate if staggered else now
            task = asyncio.create_task(charger.life(first), name=f"fleet-{charger.id}")
            charger.task = task
            self._tasks.append(task)
        self._helpers.append(asyncio.create_task(self._tick(), name="fleet-progress"))
        if self.config.storm_at is not None:
            self._helpers.append(asyncio.create_task(self._storm_at(self.config.storm_at)))

    async def run(self) -> dict[str, Any]:
        """Start, run for config.seconds (or until finish()), stop; the summary."""
        await self.start()
        assert self._finished is not None
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.seconds):
                    await self._finished.wait()
        finally:
            summary = await self.stop()
        return summary

    def finish(self) -> None:
        """End run() now (Ctrl-C); its summary still comes."""
        if self._finished is not None:
            self._finished.set()

    async def stop(self) -> dict[str, Any]:
        """Stop open sessions, close every connection (bounded by finish_timeout); the summary."""
        if self._summary is not None:
            return self._summary
        self._stopped_at, self._cpu_to = time.perf_counter(), _cpu_seconds()
        self._at_stop = (self.connected, self.online, self.stats.replies)
        self.closing = True
        for task in self._helpers:
            task.cancel()
        if self._closed_event is not None:
            self._closed_event.set()
        for charger in self.chargers:
            charger.wake()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self.config.finish_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5.0)
        for charger in self.chargers:
            if charger.ws is not None and charger.ws.transport is not None:
                charger.ws.transport.abort()
        for task in self._tasks:
            if task.done() and not task.cancelled() and (exc := task.exception()) is not None:
                _count(self.stats.error_texts, f"charger task: {type(exc).__name__}: {exc}"[:120])
        self.stats.roll()
        self._summary = self.summary()
        return self._summary

    def storm(self) -> int:
        """Drop every connection at once; each charger reconnects at once. How many dropped."""
        self.stats.storms += 1
        self.storm_back = dropped = 0
        for charger in self.chargers:
            ws = charger.ws
            if ws is not None and ws.transport is not None and not ws.transport.is_closing():
                charger.drop = charger.stormed = "storm"
                ws.transport.abort()
                dropped += 1
        return dropped

    async def _storm_at(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.storm()

    # -- waiting ----------------------------------------------------------------------------

    @property
    def sessions_open(self) -> int:
        return sum(1 for c in self.chargers if c.session is not None)

    def changed(self) -> None:
        """Wake wait_until (a charger connected, booted, dropped, began or ended a session)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[Fleet], bool], timeout: float = 60.0) -> None:
        """Return once predicate(fleet) holds (checked at every connect, boot, drop, session)."""
        async with asyncio.timeout(timeout):
            while True:
                event = self._changed
                if predicate(self):
                    return
                assert event is not None, "start the fleet first"
                await event.wait()

    async def wait_connected(self, count: int | None = None, timeout: float = 60.0) -> None:
        """Return once `count` chargers (all by default) are connected and booted."""
        wanted = self.config.count if count is None else count
        await self.wait_until(lambda f: f.online >= wanted, timeout)

    async def pause(self, seconds: float) -> bool:
        """Sleep (a charger's behaviour), cut short when the fleet closes; False if it did."""
        if self.closing:
            return False
        assert self._closed_event is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closed_event.wait()
        return not self.closing

    async def pause_until(self, when: float) -> bool:
        return await self.pause(max(0.0, when - asyncio.get_running_loop().time()))

    async def _tick(self) -> None:
        """Once a second: the rate of the last second, the latencies, the progress callback."""
        stats = self.stats
        last, last_replies = time.perf_counter(), 0
        while True:
            await asyncio.sleep(1.0)
            self.expire_replies()
            now = time.perf_counter()
            window = stats.roll()
            rate = (stats.replies - last_replies) / max(now - last, 1e-6)
            last, last_replies = now, stats.replies
            self.peak_rate = max(self.peak_rate, rate)
            totals = stats.totals()

            self.last_progress = Progress(
                elapsed=now - self._started_at,
                count=self.config.count,
                connected=self.connected,
                online=self.online,
                rate=rate,
                calls=totals["calls"],
                errors=totals["errors"] + totals["timeouts"] + totals["connection_errors"],
                p50_ms=_ms_at(window, 0.5),
                p90_ms=_ms_at(window, 0.9),
                p99_ms=_ms_at(window, 0.99),
                sessions=self.sessions_open,
            )
            if self.on_progress is not None:
                self.on_progress(self.last_progress)
            self.changed()  # wait_until's predicates see the counters at least every second

    def expire_replies(self) -> None:
        """Cut short every CALL whose reply is overdue (checked every second)."""
        now = asyncio.get_running_loop().time()
        for charger in self.chargers:
            if charger.reply_deadline < now and not charger.timed_out and charger.task:
                charger.timed_out = True
                charger.task.cancel()

    # -- results ----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Everything counted so far, as plain JSON-ready data."""
        stats, config = self.stats, self.config
        end = self._stopped_at or time.perf_counter()
        elapsed = max(end - self._started_at, 1e-6) if self._started_at else 0.0
        cpu = (self._cpu_to or _cpu_seconds()) - self._cpu_from
        totals = stats.totals()
        newer = sum(1 for c in self.chargers if c.dialect is V201)
        # At the end of the run proper, before the fleet closed its connections.
        connected, booted, replies = self._at_stop or (self.connected, self.online, stats.replies)
        settings = asdict(config)
        settings["seed"] = self.seed
        if settings["password"] is not None:
            settings["password"] = "***"
        return {
            "config": settings,
            "seconds": round(elapsed, 3),
            "chargers": {
                "count": config.count,
                "ocpp16": config.count - newer,
                "ocpp201": newer,
                "connected": connected,
                "booted": booted,
                "ever_connected": self.ever_connected,
            },
            "connects": {
                "attempts": stats.connect_attempts,
                "succeeded": stats.connects,
                "reconnects": stats.reconnects,
                "failed": stats.refused_load + stats.failed_other,
                "refused_load": stats.refused_load,
                "failed_other": stats.failed_other,
                "reasons": dict(stats.connect_failures),
            },
            "boots": dict(stats.boots),
            "disconnects": dict(stats.disconnects),
            "storms": stats.storms,
            "messages": totals
            | {
                "rate": round(replies / elapsed, 1) if elapsed else 0.0,
                "peak_rate": round(self.peak_rate, 1),
                "frames_sent": stats.frames_sent,
                "frames_received": stats.frames_received,
                "late_replies": stats.late_replies,
                "bad_frames": stats.bad_frames,
            },
            "latency_ms": stats.latency.summary_ms(),
            "actions": {name: a.as_dict() for name, a in sorted(stats.actions.items())},
            "server_calls": dict(stats.server_calls),
            "sessions": dict(stats.sessions) | {"open": self.sessions_open},
            "status_changes": stats.status_changes,
            "errors": dict(stats.error_texts),
            "cpu": {
                "seconds": round(cpu, 3),
                "cores": round(cpu / elapsed, 3) if elapsed else None,
            },
        }

    # -- the generator's own ceiling --------------------------------------------------------

    @staticmethod
    async def ceiling(config: FleetConfig, seconds: float = 5.0) -> dict[str, Any]:
        """The rate this generator itself can drive: the same fleet, heartbeats back to back,
        against an in-process server that answers every CALL at once.

        Fleet and server share this process's one event loop, so `rate` is a lower bound: the
        fleet alone, against a server elsewhere, has the whole core to itself.
        """
        seconds = min(max(seconds, 0.5), 60.0)
        # Both ends of every connection live in this process: two sockets per charger.
        _raise_file_limit(2 * config.count + 256)
        count = min(config.count, max(1, (_file_limit() - 256) // 2))
        async with echo_server() as url:
            trial = replace(
                config,
                url=url,
                count=count,
                password=None,
                connect="simultaneous",
                heartbeat=0.0,
                disconnect_rate=0.0,
                storm_at=None,
                seconds=MAX_SECONDS,
                finish_timeout=min(config.finish_timeout, 5.0),
            )
            fleet = Fleet(trial)
            await fleet.start()
            try:
                await fleet.wait_connected(timeout=120.0)
                stats = fleet.stats
                stats.roll()
                stats.latency = Latencies()  # from here on: the window's latencies only
                replies, errors = stats.replies, _errors(stats)
                wall, cpu = time.perf_counter(), _cpu_seconds()
                await asyncio.sleep(seconds)
                wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
                replies, errors = stats.replies - replies, _errors(stats) - errors
                stats.roll()
                latency = stats.latency.summary_ms()
            finally:
                await fleet.stop()
        return {
            "chargers": count,
            "seconds": round(wall, 3),
            "replies": replies,
            "errors": errors,
            "rate": round(replies / wall, 1),
            "latency_ms": latency,
            "cores": round(cpu / wall, 3),
        }


def _ms_at(latencies: Latencies, q: float) -> float | None:
    value = latencies.quantile(q)
    return None if value is None else value * 1000


def _errors(stats: FleetStats) -> int:
    totals = stats.totals()
    return totals["errors"] + totals["timeouts"] + totals["connection_errors"]


def _file_limit() -> int:
    try:
        import resource

        return int(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    except (ImportError, OSError, ValueError):
        return 1024


def _raise_file_limit(wanted: int) -> None:
    """One socket per charger: lift the soft limit on open files toward the hard one."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < wanted:
            ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    except (ImportError, OSError, ValueError):
        pass
