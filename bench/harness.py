"""Shared pieces of the benchmarks: servers under test in their own process, and an OCPP-J load.

The load generator is deliberately cheap: raw `websockets` client connections, CALL frames built
once per charger and given only their message id per CALL, replies parsed with orjson. Its
chargers connect, frame and timestamp as the fleet's do (`simulators.fleet.wire`), but keep no
per-message accounting beyond one latency in a list, so the generator costs next to nothing
beside the server it measures. Every loop here is bounded in count and in time, and every
process started here is stopped by its own id when its `Server` block ends.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from csms import garbage
from simulators.fleet.dialects import boot_16
from simulators.fleet.wire import (
    ACCEPTED,
    CALL,
    CALLRESULT,
    call_frame,
    call_template,
    open_connection,
    result_frame,
)
from simulators.fleet.wire import iso as iso  # the benchmarks' timestamps, from here as before
from tests.helpers.databases import PostgresServer, fetch

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def venv_bin(name: str) -> str:
    """A console script next to the running interpreter (the project's venv)."""
    return str(Path(sys.executable).parent / name)


BODY_MAX = 1 << 20  # bytes: the platform's CPO_MAX_BODY_BYTES by default


async def create_locations(admin: Any, sites: list[dict[str, Any]]) -> None:
    """POSTs Locations to the admin API (`admin`: an httpx client on /admin/api) in as few
    requests as its body limit allows."""
    batch: list[bytes] = []

    async def send() -> None:
        response = await admin.post(
            "/locations",
            content=b"[" + b",".join(batch) + b"]",
            headers={"Content-Type": "application/json"},
        )
        if response.status_code >= 300:
            raise ServerFailed(f"creating locations: {response.text[:300]}")
        batch.clear()

    size = 2
    for site in sites:
        body = orjson.dumps(site)
        if batch and size + len(body) + 1 > BODY_MAX:
            await send()
            size = 2
        batch.append(body)
        size += len(body) + 1
    if batch:
        await send()


# -- CPU accounting ---------------------------------------------------------------------------


def _ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        return 100


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, all its threads (Linux /proc), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    # Fields 14 and 15 (utime, stime) of proc(5); index 0 here is field 3.
    return (int(fields[11]) + int(fields[12])) / _ticks()


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (the platform's push worker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def tree_cpu_seconds(pid: int) -> float | None:
    """`process_cpu_seconds` of a process and its live children together."""
    own = process_cpu_seconds(pid)
    if own is None:
        return None
    return own + sum(process_cpu_seconds(child) or 0.0 for child in children(pid))


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


# -- running one benchmark ---------------------------------------------------------------------

Results = TypeVar("Results")


def run_benchmark(
    name: str,
    measure: Coroutine[Any, Any, Results],
    report: Callable[[Results], dict[str, Any]],
    show: Callable[[dict[str, Any], Results], None],
    as_json: bool,
) -> int:
    """A benchmark's `main`: measures, turns the results into figures (with `held`), prints
    them as JSON or as `show` lays them out. 0 when held, 1 when missed or not measured."""
    garbage.keep_long_lived_apart()  # the load's own pauses are not the platform's latency
    try:
        results = asyncio.run(measure)
    except ServerFailed as e:
        print(f"{name}: could not measure: {e}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(f"{name}: interrupted", file=sys.stderr)
        return 1
    figures = report(results)
    if as_json:
        print(json.dumps(figures))
    else:
        show(figures, results)
    return 0 if figures["held"] else 1


def load_parser(name: str, doc: str, seconds: float, warmup: float) -> argparse.ArgumentParser:
    """The options of a benchmark that loads OCPP chargers: --chargers, --seconds, --warmup,
    --batch and --json; the benchmark adds its own, then calls `parse_load`."""
    p = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=doc.split("\n")[0])
    p.add_argument("--chargers", type=int, default=500, help="connections (default 500)")
    p.add_argument(
        "--seconds", type=float, default=seconds, help=f"measurement window (default {seconds:g})"
    )
    p.add_argument(
        "--warmup", type=float, default=warmup, help=f"warm-up before it (default {warmup:g})"
    )
    p.add_argument("--batch", type=int, default=50, help="chargers connected at once (default 50)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return p


def parse_load(
    p: argparse.ArgumentParser,
    argv: list[str] | None,
    max_chargers: int = 5_000,
    min_seconds: float = 0.5,
) -> argparse.Namespace:
    args = p.parse_args(argv)
    if not (1 <= args.chargers <= max_chargers):
        p.error(f"--chargers must be between 1 and {max_chargers}")
    if not (min_seconds <= args.seconds <= 600) or not (0 <= args.warmup <= 60):
        p.error(f"--seconds must be in [{min_seconds:g}, 600] and --warmup in [0, 60]")
    if args.batch < 1:
        p.error("--batch must be at least 1")
    return args


def fmt_ms(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_cpu(value: float | None) -> str:
    """CPU seconds per wall second as a percentage of one core."""
    return "-" if value is None else f"{100 * value:.0f} %"


# -- servers under test -----------------------------------------------------------------------


async def http_ok(port: int, path: str, timeout: float = 2.0) -> bool:
    """Whether GET http://127.0.0.1:<port><path> answers 200."""
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            status = await reader.readline()
            return status.split(b" ", 2)[1:2] == [b"200"]
    except (OSError, TimeoutError, IndexError):
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class ServerFailed(RuntimeError):
    pass


Ready = Callable[["Server"], Awaitable[bool]]


class Server:
    """A server under test in its own process: started, awaited until ready, always stopped.

    `ready(server)` is polled (every 0.1 s, at most READY_TIMEOUT seconds) until it is true.
    Output goes to `<workdir>/<name>.log`, whose tail is shown if it dies or never gets ready.
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        port: int,
        ready: Ready,
        workdir: str,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        self.name, self.argv, self.port, self.ready = name, argv, port, ready
        # The caller's own CPO_* settings stay out: every run starts from the same settings.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CPO_")}
        self.env = {**inherited, **(env or {})}
        self.cwd = cwd or str(ROOT)
        self.log_path = Path(workdir) / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.stop_timeout = STOP_TIMEOUT
        self.stop_signal = signal.SIGTERM

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so we can stop it and only it
            )

    async def __aenter__(self) -> Server:
        self.start()
        assert self.proc is not None
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while True:
                if self.proc.poll() is not None:
                    raise ServerFailed(
                        f"{self.name} exited with {self.proc.returncode} before it was ready:\n"
                        + self.log_tail()
                    )
                if await self.ready(self):
                    return self
                if time.monotonic() > deadline:
                    raise ServerFailed(
                        f"{self.name} not ready after {READY_TIMEOUT:.0f} s:\n" + self.log_tail()
                    )
                await asyncio.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    def cpu_seconds(self) -> float | None:
        """The platform's CPU time so far, its push worker's included."""
        return tree_cpu_seconds(self.proc.pid) if self.proc else None

    def stop(self) -> None:
        """`stop_signal` (SIGTERM) to the process group we started, SIGKILL after `stop_timeout`
        seconds."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            for sig in (self.stop_signal, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout=self.stop_timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if proc is not None and proc.poll() is None:  # pragma: no cover - SIGKILL failed
            print(f"warning: {self.name} (pid {proc.pid}) did not stop", file=sys.stderr)


# Settings for a platform under load: chargers need no registration and are never throttled,
# and no status is asked of them behind the benchmark's back.
LOAD_SETTINGS = {
    "AUTO_REGISTER": "true",
    "RATE_LIMIT": "100000",
    "RATE_BURST": "100000",
    "STATUS_TRIGGER_DELAY": "3600",
}


_postgres: PostgresServer | None = None
_databases: dict[str, str] = {}


def on_postgres() -> bool:
    """Whether the platforms of this run use PostgreSQL (BENCH_DATABASE=postgresql), not SQLite."""
    return os.environ.get("BENCH_DATABASE", "sqlite") == "postgresql"


def database_label() -> str:
    return "PostgreSQL" if on_postgres() else "SQLite"


def database_url(workdir: str) -> str:
    """The platform's database for a benchmark's `workdir`: a SQLite file in it, or with
    BENCH_DATABASE=postgresql a fresh database on a PostgreSQL server this run starts (from
    Debian's binaries, as the tests do, but with fsync on)."""
    global _postgres
    if not on_postgres():
        return f"sqlite+aiosqlite:///{workdir}/bench.db"
    if workdir not in _databases:
        if _postgres is None:
            _postgres = PostgresServer(durable=True)
            atexit.register(_postgres.stop)
            _postgres.start()
        _quiet(_postgres)
        _databases[workdir] = _postgres.url(_postgres.create_database())
    return _databases[workdir]


def _quiet(server: PostgresServer) -> None:
    """Before a benchmark's database is made: the databases of benchmarks that are over (their
    work directories are gone) are dropped, and a checkpoint writes out what they left, so a
    benchmark in a series (bench.postgres) meets the server as one run alone would, not
    autovacuum and checkpoint writes behind the previous benchmark's load."""
    for old in [w for w in _databases if not os.path.exists(w)]:
        server.drop_database(_databases.pop(old).rsplit("/", 1)[-1])
    server.sql("CHECKPOINT")


async def query(workdir: str, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of one SQL statement on the benchmark platform's database (read after the load)."""
    return await fetch(database_url(workdir), statement, **params)


def platform_env(workdir: str, port: int, **settings: str) -> dict[str, str]:
    """`cpo serve`'s environment: a fresh database for `workdir` (database_url), admin token
    "bench", and `settings` as CPO_* overrides (e.g. AUTO_REGISTER="true")."""
    return {
        "CPO_DATABASE_URL": database_url(workdir),
        "CPO_ADMIN_TOKEN": "bench",
        "CPO_LOG_LEVEL": "warning",
        "CPO_HOST": HOST,
        "CPO_PORT": str(port),
        "CPO_OCPI_ALLOW_PRIVATE_PEERS": "true",  # the benchmarks' eMSPs are on loopback
    } | {f"CPO_{name}": value for name, value in settings.items()}


PROFILE_RENDERERS = {
    ".html": "html",
    ".json": "json",
    ".pstats": "pstats",
    ".pyisession": "pyisession",
}


def cpo_argv() -> list[str]:
    """The command that starts `cpo`: its script, or with BENCH_PROFILE=<file> in the
    environment, the same under pyinstrument, which writes its profile there when the
    platform stops (text, or html/json/pstats/pyisession after the file's suffix)."""
    profile = os.environ.get("BENCH_PROFILE")
    if not profile:
        return [venv_bin("cpo")]
    renderer = PROFILE_RENDERERS.get(os.path.splitext(profile)[1], "text")
    return [sys.executable, "-m", "pyinstrument", "-r", renderer, "-o", profile, "-m", "cpo.cli"]


def platform_server(workdir: str, **settings: str) -> Server:
    """`cpo serve` on a free port (run where there is no .env), ready when /health answers;
    under pyinstrument with BENCH_PROFILE=<file> (cpo_argv)."""
    port = free_port()
    argv = cpo_argv()
    profile = os.environ.get("BENCH_PROFILE")
    server = Server(
        "platform",
        [*argv, "serve", "--host", HOST, "--port", str(port)],
        port,
        health_ok("/health"),
        workdir,
        env=platform_env(workdir, port, **settings),
        cwd=workdir,
    )
    if profile:
        # uvicorn re-raises SIGTERM after its shutdown, which kills pyinstrument before it
        # writes; after SIGINT it ends with KeyboardInterrupt, which pyinstrument catches.
        server.stop_signal = signal.SIGINT
        server.stop_timeout = 120.0  # writing the profile takes a while
    return server


def log_says(text: str) -> Ready:
    async def ready(server: Server) -> bool:
        try:
            return text in server.log_path.read_text(errors="replace")
        except OSError:
            return False

    return ready


def health_ok(path: str = "/health") -> Ready:
    async def ready(server: Server) -> bool:
        return await http_ok(server.port, path)

    return ready


# -- the load ---------------------------------------------------------------------------------

MAX_CALLS_PER_CHARGER = 10_000_000  # a bound on the call loop besides its deadline
MAX_FRAMES_PER_CALL = 100  # the server's own CALLs we answer while waiting for one reply
CONNECT_TIMEOUT = 10.0
REPLY_TIMEOUT = 30.0  # connecting and booting only; the call loop is bounded by a watchdog


@dataclass
class Window:
    start: float = 0.0  # load starts
    measure_from: float = 0.0
    measure_to: float = 0.0  # no new call is sent after this
    started: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class LoadResult:
    name: str
    chargers: int
    connected: int
    seconds: float
    replies: int
    rate: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    server_calls: int
    connect_seconds: float
    server_cpu: float | None  # CPU seconds per wall second in the window (1.0 = one core)
    loadgen_cpu: float | None
    notes: list[str] = field(default_factory=list)
    p90_ms: float | None = None
    max_ms: float | None = None
    sent: int = 0  # CALLs of the loop sent, in the window or not
    acknowledged: int = 0  # CALLRESULTs the loop got, in the window or not

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class _Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.server_calls = 0
        self.sent = 0
        self.acknowledged = 0
        self.first_error: str | None = None

    def error(self, what: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = what


async def _await_reply(ws: ClientConnection, message_id: str, stats: _Stats) -> list[Any] | None:
    """Read until the reply to `message_id`, answering the server's CALLs meanwhile."""
    for _ in range(MAX_FRAMES_PER_CALL):
        message = orjson.loads(await ws.recv(decode=False))
        kind = message[0]
        if kind == CALL:
            stats.server_calls += 1
            await ws.send(result_frame(message[1], ACCEPTED), text=True)
        elif message[1] == message_id:
            if kind == CALLRESULT:
                return list(message)
            stats.error(f"CALLERROR {message[2:4]}")
            return None
        else:
            stats.error(f"reply to an unknown id {message[1]!r}")
    stats.error(f"more than {MAX_FRAMES_PER_CALL} frames without our reply")
    return None


# A charger's CALL frame for a message id: '[2,"<id>","Action",{...}]'.
Frame = Callable[[str], str]
# Run on each connection after it is open (and booted, if asked): the calls that put the
# charger in the state the load needs (a transaction, ...); returns its frame maker.
Prepare = Callable[[ClientConnection, int], Awaitable[Frame]]


async def call(ws: ClientConnection, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """One CALL and its CALLRESULT payload, the server's own CALLs meanwhile answered Accepted
    (ServerFailed for a CALLERROR or no reply within REPLY_TIMEOUT). For preparing, not for the
    measured loop."""
    stats = _Stats()
    message_id = f"prep-{os.urandom(4).hex()}"
    await ws.send(call_frame(message_id, action, payload), text=True)
    async with asyncio.timeout(REPLY_TIMEOUT):
        reply = await _await_reply(ws, message_id, stats)
    if reply is None:
        raise ServerFailed(f"{action} not answered: {stats.first_error}")
    return dict(reply[2])


async def _open(
    url: str,
    number: int,
    boot: bool,
    deflate: bool,
    stats: _Stats,
    subprotocol: str = "ocpp1.6",
) -> ClientConnection:
    ws = await open_connection(
        url, subprotocol, deflate=deflate, open_timeout=CONNECT_TIMEOUT, close_timeout=1
    )
    if not boot:
        return ws
    boot_id = f"boot-{number}"
    try:
        await ws.send(call_frame(boot_id, *boot_16("B", "M")), text=True)
        async with asyncio.timeout(REPLY_TIMEOUT):
            reply = await _await_reply(ws, boot_id, stats)
        # (The echo server answers {}: no status is fine, a refusal is not.)
        if reply is None or reply[2].get("status", "Accepted") != "Accepted":
            raise ServerFailed(f"BootNotification not accepted: {reply!r}")
    except BaseException:
        await asyncio.shield(ws.close())
        raise
    return ws


async def _calls(
    ws: ClientConnection,
    window: Window,
    frame: Frame,
    stats: _Stats,
    interval: float | None = None,
    offset: float = 0.0,
) -> None:
    """One charger: CALLs one at a time, each waiting for its reply, until the window ends.

    Back to back when `interval` is None. Otherwise paced (open loop): call k is due at
    start + offset + k * interval by a fixed clock, sent then or, if the previous reply is
    late, as soon as it is in; its latency runs from when it was due, so a server that stalls
    is charged for the calls it held up (no coordinated omission).
    """
    perf = time.perf_counter
    send = ws.send
    latencies = stats.latencies
    await window.started.wait()
    for n in range(MAX_CALLS_PER_CHARGER):
        if interval is None:
            due = sent = perf()
        else:
            due = window.start + offset + n * interval
            sent = perf()
            if due > sent:
                if due >= window.measure_to:
                    return
                await asyncio.sleep(due - sent)
                sent = perf()
        if due >= window.measure_to:
            return
        message_id = str(n)
        await send(frame(message_id))
        stats.sent += 1
        if await _await_reply(ws, message_id, stats) is None:
            continue
        stats.acknowledged += 1
        received = perf()
        if window.measure_from <= received < window.measure_to:
            latencies.append(received - due)


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank q-quantile of `values` (in any order), or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _percentile_ms(values: list[float], q: float) -> float | None:
    found = percentile(values, q)
    return None if found is None else 1000 * found


async def run_load(
    name: str,
    url_of: Callable[[int], str],
    *,
    chargers: int,
    warmup: float,
    seconds: float,
    action: str = "Heartbeat",
    payload: str = "{}",
    boot: bool = True,
    batch: int = 50,
    deflate: bool = False,
    server: Server | None = None,
    subprotocol: str = "ocpp1.6",
    prepare: Prepare | None = None,
    rate: float | None = None,
) -> LoadResult:
    """Connect `chargers` chargers in batches, then CALL `action` in a loop on all of them.

    Replies received in the measurement window [start + warmup, start + warmup + seconds) are
    counted; their round trips give the latencies. `prepare`, if given, runs on each charger
    once it is connected and makes its CALL frames (`action` and `payload` are then unused).
    `rate`, if given, paces the load: that many CALLs per second in total, spread evenly over
    the chargers by a fixed clock, each latency measured from when its CALL was due.
    """
    stats = _Stats()
    notes: list[str] = []
    conns: list[ClientConnection] = []
    tasks: list[asyncio.Task[None]] = []
    connect_started = time.monotonic()
    connect_deadline = connect_started + 90.0
    try:
        for first in range(0, chargers, batch):
            if time.monotonic() > connect_deadline:
                notes.append(f"connecting stopped after 90 s at {len(conns)} chargers")
                break
            opened = await asyncio.gather(
                *(
                    _open(url_of(n), n, boot, deflate, stats, subprotocol)
                    for n in range(first, min(first + batch, chargers))
                ),
                return_exceptions=True,
            )
            for result in opened:
                if isinstance(result, BaseException):
                    stats.error(f"connect: {type(result).__name__}: {result}")
                else:
                    conns.append(result)
        connect_seconds = time.monotonic() - connect_started
        if not conns:
            raise ServerFailed(f"{name}: no charger could connect ({stats.first_error})")
        connect_errors = stats.errors
        frames: list[Frame] = [call_template(action, payload)] * len(conns)
        if prepare is not None:
            for first in range(0, len(conns), batch):
                made = await asyncio.gather(
                    *(prepare(conns[n], n) for n in range(first, min(first + batch, len(conns)))),
                    return_exceptions=True,
                )
                for i, result in enumerate(made):
                    if isinstance(result, BaseException):
                        raise ServerFailed(
                            f"{name}: preparing a charger: {type(result).__name__}: {result}"
                        )
                    frames[first + i] = result

        window = Window()
        interval = len(conns) / rate if rate else None
        tasks = [
            asyncio.create_task(
                _calls(
                    ws,
                    window,
                    frames[n],
                    stats,
                    interval,
                    # Spread the chargers' first calls over one interval: an even total rate.
                    n * interval / len(conns) if interval else 0.0,
                )
            )
            for n, ws in enumerate(conns)
        ]
        await asyncio.sleep(0.2)  # let every task reach its start line
        window.start = time.perf_counter()
        window.measure_from = window.start + warmup
        window.measure_to = window.measure_from + seconds
        window.started.set()

        await asyncio.sleep(max(0.0, window.measure_from - time.perf_counter()))
        cpu_from = server.cpu_seconds() if server else None
        own_from, wall_from = own_cpu_seconds(), time.perf_counter()
        await asyncio.sleep(max(0.0, window.measure_to - time.perf_counter()))
        cpu_to = server.cpu_seconds() if server else None
        own_to, wall_to = own_cpu_seconds(), time.perf_counter()

        # Every charger stops sending at measure_to; give outstanding replies a bounded grace.
        done, pending = await asyncio.wait(tasks, timeout=5.0)
        for task in pending:
            task.cancel()
        if pending:
            notes.append(f"{len(pending)} chargers still waiting for a reply 5 s after the window")
            await asyncio.wait(pending, timeout=2.0)
        for task in done:
            if not task.cancelled() and (e := task.exception()) is not None:
                stats.error(f"charger: {type(e).__name__}: {e}")
    finally:
        for task in tasks:
            task.cancel()
        # Close politely but boundedly; the server process is killed afterwards anyway.
        if conns:
            await asyncio.wait([asyncio.create_task(ws.close()) for ws in conns], timeout=5.0)

    latencies = sorted(stats.latencies)
    wall = wall_to - wall_from
    if stats.first_error:
        notes.append(f"first error: {stats.first_error}")
    if connect_errors:
        notes.append(f"{connect_errors} errors while connecting")
    return LoadResult(
        name=name,
        chargers=chargers,
        connected=len(conns),
        seconds=seconds,
        replies=len(latencies),
        rate=len(latencies) / seconds,
        p50_ms=_percentile_ms(latencies, 0.50),
        p99_ms=_percentile_ms(latencies, 0.99),
        p90_ms=_percentile_ms(latencies, 0.90),
        max_ms=1000 * latencies[-1] if latencies else None,
        sent=stats.sent,
        acknowledged=stats.acknowledged,
        errors=stats.errors,
        server_calls=stats.server_calls,
        connect_seconds=connect_seconds,
        server_cpu=(cpu_to - cpu_from) / wall
        if cpu_from is not None and cpu_to is not None
        else None,
        loadgen_cpu=(own_to - own_from) / wall,
        notes=notes,
    )


# -- many chargers held open --------------------------------------------------------------------


def raise_open_files_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit (children inherit it);
    returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int | None:
    """Resident set size of a process and its live children in KiB (VmRSS of
    /proc/<pid>/status), or None."""
    own = _rss_kib(pid)
    if own is None:
        return None
    return own + sum(_rss_kib(child) or 0 for child in children(pid))


def _rss_kib(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


async def cpu_quiet(server: Server, longest: float, step: float = 0.5, busy: float = 0.05) -> bool:
    """Wait until the server uses less than `busy` of a core over `step` seconds, at most
    `longest` seconds; whether it went quiet."""
    deadline = time.monotonic() + longest
    before = server.cpu_seconds()
    while time.monotonic() < deadline:
        await asyncio.sleep(step)
        now = server.cpu_seconds()
        if before is None or now is None:
            return False
        if now - before < busy * step:
            return True
        before = now
    return False


@dataclass
class Boot:
    """One charger's connect and BootNotification: its socket and how long it took, or why not."""

    ws: ClientConnection | None
    seconds: float | None = None  # from its own start to the accepted boot
    done_at: float = 0.0  # time.perf_counter() when it was accepted or failed
    failure: str | None = None  # the kind: "http", "callerror", "rejected", "timeout", "connect"
    detail: str | None = None


async def boot_charger(url: str, number: int, *, deflate: bool, timeout: float) -> Boot:
    """Connect as a charger does and send a BootNotification; bounded by `timeout` in all."""
    started = time.perf_counter()
    ws: ClientConnection | None = None
    boot_id = f"boot-{number}"
    try:
        async with asyncio.timeout(timeout):
            # No timeout of its own: bounded by the one above. No pings of its own either: the
            # server pings, and a charger answers (websockets does).
            ws = await open_connection(
                url, "ocpp1.6", deflate=deflate, open_timeout=None, close_timeout=1
            )
            await ws.send(call_frame(boot_id, *boot_16("Bench", "Idle")), text=True)
            while True:  # the server may CALL first (TriggerMessage ...): answer and read on
                message = orjson.loads(await ws.recv(decode=False))
                if message[0] == CALL:
                    await ws.send(result_frame(message[1], ACCEPTED), text=True)
                elif message[1] == boot_id:
                    break
    except TimeoutError:
        return _failed(ws, "timeout", f"no accepted boot within {timeout:g} s")
    except InvalidStatus as e:
        return _failed(ws, "http", f"HTTP {e.response.status_code} on the upgrade")
    except (OSError, InvalidHandshake, ConnectionClosed) as e:
        return _failed(ws, "connect", f"{type(e).__name__}: {e}")
    if message[0] != CALLRESULT:
        return _failed(ws, "callerror", f"CALLERROR {message[2:4]}")
    # (The echo server answers {}: no status is fine, a refusal is not.)
    if (status := message[2].get("status", "Accepted")) != "Accepted":
        return _failed(ws, "rejected", f"boot status {status}")
    done = time.perf_counter()
    return Boot(ws, seconds=done - started, done_at=done)


def _failed(ws: ClientConnection | None, kind: str, detail: str) -> Boot:
    if ws is not None:
        ws.transport.abort()
    return Boot(None, failure=kind, detail=detail, done_at=time.perf_counter())


@dataclass
class Fleet:
    """Chargers connected and booted by `boot_fleet`, and the ones that failed."""

    booted: list[Boot]
    failures: dict[str, int]
    first_failures: dict[str, str]  # one example of each kind
    seconds: float  # from the first charger's start to the last one's end
    all_booted_seconds: float | None  # from the first charger's start to the last boot accepted

    @property
    def boot_seconds(self) -> list[float]:
        return [b.seconds for b in self.booted if b.seconds is not None]

    def boot_ms(self, q: float) -> float | None:
        """The q-quantile of the chargers' connect-and-boot times, in milliseconds."""
        return _percentile_ms(self.boot_seconds, q)

    def abort(self) -> None:
        """Drop every socket at once (no closing handshake: the server is stopped anyway)."""
        for boot in self.booted:
            if boot.ws is not None:
                boot.ws.transport.abort()
        self.booted = []


async def boot_fleet(
    url_of: Callable[[int], str],
    count: int,
    *,
    deflate: bool,
    concurrency: int,
    timeout: float,
) -> Fleet:
    """Connect and boot `count` chargers, at most `concurrency` at a time (`count`: a storm, all
    started at once); each one's connect and boot bounded by `timeout` seconds."""
    gate = asyncio.Semaphore(concurrency)

    async def one(number: int) -> Boot:
        async with gate:
            return await boot_charger(url_of(number), number, deflate=deflate, timeout=timeout)

    started = time.perf_counter()
    tasks = [asyncio.create_task(one(n)) for n in range(count)]
    try:
        boots = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=5.0)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is None:
                if (ws := task.result().ws) is not None:
                    ws.transport.abort()
        raise
    seconds = time.perf_counter() - started
    failures: dict[str, int] = {}
    first: dict[str, str] = {}
    for boot in boots:
        if boot.failure is not None:
            failures[boot.failure] = failures.get(boot.failure, 0) + 1
            first.setdefault(boot.failure, boot.detail or "")
    booted = [b for b in boots if b.ws is not None]
    last = max((b.done_at for b in booted), default=None)
    return Fleet(booted, failures, first, seconds, None if last is None else last - started)
