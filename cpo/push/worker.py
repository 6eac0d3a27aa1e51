"""The push worker: the projection and the deliverer in a process of their own (ADR 012).

A status change costs the platform CPU three times: the OCPP side stores it, the projection
turns it into an EVSE status and an outbox row, the deliverer sends it. One Python process
does that on one core, and saturates below 200 changes a second (bench/RESULTS.md). So
`cpo serve` runs the projection and the deliverer in a child process, on another core. They
share nothing with the server but the database, where they were safe already (the cursor moves
with what it causes; outbox rows are claimed under leases), and one pipe, the worker's
standard input, on which the server says "events were committed" and "outbox rows wait", so
the worker wakes at once instead of polling. It polls once a second as well: a wake lost
costs a second, never a change.

The server restarts a worker that dies (backing off); a worker whose server dies reads the
end of its pipe and stops, finishing the rounds in hand.

The worker's metrics (its pushes and pulls) go to prometheus-client's multiprocess files in a
directory the server makes for this run and removes when it stops; the server's /metrics adds
them to its own (cpo.metrics). A dead worker's counts stay there, so totals never go back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid

from prometheus_client.multiprocess import mark_process_dead
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo import leases, logs
from cpo.projection import LEASE, holder_name
from cpo.push.deliverer import Deliverer
from cpo.settings import Settings
from csms import garbage
from csms.events import Announcement, EventFeed, EventType, only_readings
from csms.tasks import finish, pause

log = logging.getLogger("cpo.push.worker")

READY = b"ready\n"  # the worker's one line on its standard output: it has started
EVENTS = b"e"  # the csms committed events: the projection has work
# ... only readings: the projection's step may wait a little for more (cpo.projection)
READINGS = b"r"
OUTBOX = b"o"  # outbox rows wait: the deliverer has work
SETTINGS_ENV = "CPO_PUSH_WORKER_SETTINGS"  # the server's settings, as JSON
NAME_ENV = "CPO_PUSH_WORKER_NAME"  # what its deliverer's leases are known by
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # where prometheus-client keeps the worker's figures
STARTUP_MAX = 60.0  # seconds a worker may take to start
_UNREAD_MAX = 64  # bytes of wakes the worker has not read yet: more say nothing new
# What the worker's projection is told: events committed, or only readings (it reads which
# from the log; the announcement says only how soon it need look).
_WAKE = Announcement(station_id="", type="", data={})
_READINGS_WAKE = Announcement(station_id="", type=EventType.METER_VALUES_SAMPLED, data={})


def can_share(database_url: str) -> bool:
    """Whether a second process sees the same database (not so for SQLite in memory)."""
    url = make_url(database_url)
    return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


class PushWorker:
    """The server's handle on its worker process: starts it, wakes it, restarts it if it dies,
    and stops it (letting it finish what it holds)."""

    def __init__(
        self,
        settings: Settings,
        database: async_sessionmaker[AsyncSession],
        restart_max: float = 30.0,
    ) -> None:
        self.settings = settings
        self.database = database
        self.name = ""
        self.restart_max = restart_max
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.metrics_dir: str | None = None  # the worker's metrics files, while it runs
        self._task: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def state(self) -> str:
        running = self.process is not None and self.process.returncode is None
        return "running" if running else "restarting"

    def wake_events(self, only_readings: bool = False) -> None:
        self._say(READINGS if only_readings else EVENTS)

    def wake_outbox(self) -> None:
        self._say(OUTBOX)

    def _say(self, what: bytes) -> None:
        process = self.process
        if process is None or process.stdin is None or process.returncode is not None:
            return  # it reads the log and the outbox when it is back
        transport = process.stdin.transport
        # Its pipe is full: it has wakes to read already. One for readings only (which wait
        # anyway) is left to its next poll, so that it never crowds out another kind.
        unread = transport.get_write_buffer_size()
        if transport.is_closing() or unread > (0 if what == READINGS else _UNREAD_MAX):
            return
        process.stdin.write(what)

    def follow(self, feed: EventFeed) -> None:
        """Wakes the worker's projection whenever `feed` announces committed events."""

        async def forward() -> None:
            queue = feed.subscribe()
            try:
                while True:
                    event = await queue.get()
                    readings = only_readings(event.type, event.data)
                    while not queue.empty():  # one wake for all announced so far
                        event = queue.get_nowait()
                        readings = readings and only_readings(event.type, event.data)
                    self.wake_events(readings)
            finally:
                feed.unsubscribe(queue)

        self._follower = asyncio.create_task(forward(), name="push-worker-wakes")

    async def start(self) -> None:
        """Starts the worker; returns once its projection and deliverer run."""
        self.metrics_dir = tempfile.mkdtemp(prefix="cpo-metrics-")
        await self._spawn()
        self._task = asyncio.create_task(self._supervise(), name="push-worker")

    async def _spawn(self) -> None:
        # Its node's name first: the deliverers of live nodes keep their leases (ADR 018).
        self.name = f"{self.settings.node_name}/{uuid.uuid4().hex[:12]}"
        env = os.environ | {SETTINGS_ENV: self.settings.model_dump_json(), NAME_ENV: self.name}
        if self.metrics_dir is not None:
            env[METRICS_ENV] = self.metrics_dir
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cpo.push.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            # A group of its own: a terminal's Ctrl-C reaches the server, which stops the
            # worker after its own shutdown; the worker never sees it (not even mid-import).
            process_group=0,
        )
        assert self.process.stdout is not None
        try:
            said = await asyncio.wait_for(self.process.stdout.readline(), STARTUP_MAX)
        except TimeoutError:
            said = b""
        if said != READY:
            log.error("the push worker did not start (it said %r)", said)
        else:
            log.info("push worker started (pid %s)", self.process.pid)

    async def _supervise(self) -> None:
        delay = 1.0
        while True:
            assert self.process is not None
            started = time.monotonic()
            code = await self.process.wait()
            self._buried(self.process.pid)
            if self._stopping.is_set():
                return
            if time.monotonic() - started > 60:
                delay = 1.0  # it ran a good while: this is a new failure, not the same one
            log.error("push worker exited (%s); starting another in %.0f s", code, delay)
            try:
                freed = await Deliverer.release(self.database, self.name)
                log.info("push: %d rows the worker was sending go again", freed)
                # Its projection's lease too: the next worker (or another node) takes it now.
                async with self.database.begin() as session:
                    holder = holder_name(self.settings.node_name, self.name)
                    await leases.release(session, LEASE, holder)
            except Exception:  # their leases run out instead
                log.exception("push: cannot free the rows and the lease the worker held")
            await pause(self._stopping, delay)
            if self._stopping.is_set():
                return
            delay = min(self.restart_max, delay * 2)
            self.restarts += 1
            await self._spawn()

    async def stop(self, grace: float = 15.0) -> None:
        """Closes the pipe (the worker finishes its rounds and exits); kills it after `grace`."""
        self._stopping.set()
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        process = self.process
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                log.error("the push worker did not stop within %.0f s; killing it", grace)
                process.kill()
                await process.wait()
        if self._task is not None:
            await finish(self._task, 1.0)
        if self.metrics_dir is not None:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
            self.metrics_dir = None

    def _buried(self, pid: int) -> None:
        """A worker ended: its live gauges go (its counters stay in the totals)."""
        if self.metrics_dir is not None:
            mark_process_dead(pid, self.metrics_dir)  # type: ignore[no-untyped-call]


async def _serve(settings: Settings) -> None:
    """The worker's life: the projection and the deliverer, woken by the pipe, until it ends."""
    from cpo.ocpi_side import OcpiSide
    from csms.db import make_database, make_engine, make_reader

    # The server that started this worker checkpoints SQLite's WAL (csms.db.WalCheckpoints).
    engine = make_engine(settings.database_url, checkpoints_apart=True)
    reader = make_reader(engine, inline=True)
    feed = EventFeed()
    ocpi_side = OcpiSide(
        settings,
        make_database(engine),
        readers=make_database(reader) if reader else None,
        feed=feed,
        deliverer_name=os.environ.get(NAME_ENV),
    )
    loop = asyncio.get_running_loop()
    pipe = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(pipe), sys.stdin)
    loop.add_signal_handler(signal.SIGTERM, pipe.feed_eof)
    publisher = None
    if settings.redis_url:
        # Several nodes: the outbox rows this worker's projection marks wake every node's
        # deliverer (cpo.wakes); the other nodes' wakes come through the server's pipe.
        import redis.asyncio as redis

        from cpo.wakes import WakePublisher
        from csms.cluster import OUTBOX as OUTBOX_ROWS

        client = redis.from_url(settings.redis_url)
        publisher = WakePublisher(client, settings.node_name)
        ocpi_side.outbox.forward = lambda: publisher.say(OUTBOX_ROWS)
    ocpi_side.start_push()
    sys.stdout.buffer.write(READY)
    sys.stdout.buffer.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nobody reads the pipe after this line
    try:
        while chunk := await pipe.read(4096):
            if EVENTS in chunk:
                feed.publish([_WAKE])
            elif READINGS in chunk:
                feed.publish([_READINGS_WAKE])
            if OUTBOX in chunk:
                ocpi_side.outbox.wake()
    finally:
        await ocpi_side.stop()
        if publisher is not None:
            await publisher.close()
            await client.aclose()
        await engine.dispose()
        if reader is not None:
            await reader.dispose()


def main() -> None:
    # The server stops the worker by closing the pipe, after its own shutdown; a SIGINT
    # sent to the worker's group by hand is no reason to cut a round short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    logs.configure(settings.log_level, settings.log_format, process="push worker")
    garbage.keep_long_lived_apart()
    asyncio.run(_serve(settings))


if __name__ == "__main__":
    main()
