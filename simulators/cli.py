"""cpo-sim: run simulated OCPP charge points and a simulated OCPI eMSP from the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from simulators.charge_point import CallErrorReceived, ChargePointSimulator, SessionRejected
from simulators.emsp import EmspSimulator, HubSimulator, OcpiError, make_token
from simulators.emsp.hub import DEFAULT_CLIENTS
from simulators.emsp.specs import DEFAULT_VERSION, VERSIONS, spec
from simulators.emsp.validation import problems
from simulators.fleet import (
    MAX_CHARGERS,
    MAX_SECONDS,
    Fleet,
    FleetConfig,
    Progress,
    progress_line,
    summary_text,
)

LOG = logging.getLogger("simulators")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cpo-sim", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every OCPP frame")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    charger = commands.add_parser("charger", help="run one simulated charge point")
    charger.add_argument("--id", required=True, help="charge point identity")
    charger.add_argument("--ocpp", choices=["1.6", "2.0.1"], default="1.6")
    charger.add_argument("--url", default="ws://127.0.0.1:8000/ocpp", help="CSMS endpoint")
    charger.add_argument("--password", help="HTTP Basic password (user = --id)")
    charger.add_argument("--evses", type=int, default=1, help="number of EVSEs / connectors")
    charger.add_argument("--power", type=float, default=11000.0, help="charging power in W")
    charger.add_argument("--session", action="store_true", help="run one charging session and exit")
    charger.add_argument("--evse", type=int, default=1, help="EVSE used by --session")
    charger.add_argument("--id-tag", default="SIMTAG0001", help="token used by --session")
    charger.add_argument("--updates", type=int, default=3, help="meter values sent by --session")
    charger.add_argument(
        "--interval", type=float, default=60.0, help="simulated seconds between meter values"
    )
    charger.add_argument(
        "--realtime", action="store_true", help="really wait --interval between meter values"
    )
    charger.add_argument("--json", action="store_true", help="print the session summary as JSON")
    charger.set_defaults(run=run_charger)

    emsp = commands.add_parser(
        "emsp",
        help="run a simulated OCPI eMSP (2.1.1, 2.2.1 or 2.3.0)",
        description="Serve an OCPI eMSP that records and checks everything a CPO sends. "
        "Prints its versions URL and a token A for `cpo party register`, or registers itself "
        "with --register; then logs every request and violation until Ctrl-C.",
    )
    emsp.add_argument(
        "--version",
        choices=VERSIONS,
        default=DEFAULT_VERSION,
        help=f"the OCPI version to speak and check against (default {DEFAULT_VERSION})",
    )
    emsp.add_argument("--host", default="127.0.0.1")
    emsp.add_argument("--port", type=int, default=9000, help="0 picks a free port")
    emsp.add_argument("--public-url", help="base URL peers reach us at (default http://HOST:PORT)")
    emsp.add_argument("--country-code", default="NL")
    emsp.add_argument("--party-id", default="EMS")
    emsp.add_argument("--name", default="eMSP Simulator", help="business name in our credentials")
    emsp.add_argument("--tokens", type=Path, metavar="FILE.json", help="OCPI Token object(s)")
    emsp.add_argument(
        "--raw-tokens",
        action="store_true",
        help="send and expect Authorization tokens unencoded (always so in 2.1.1)",
    )
    emsp.add_argument(
        "--register",
        nargs=2,
        metavar=("VERSIONS_URL", "TOKEN_A"),
        help="register with the CPO at VERSIONS_URL using its token A",
    )
    emsp.add_argument(
        "--hub",
        action="store_true",
        help="play an OCPI roaming hub (2.2.1 or 2.3.0) with the --client eMSPs behind it; "
        "--country-code/--party-id then name the hub",
    )
    emsp.add_argument(
        "--client",
        action="append",
        metavar="CC/PID",
        help="an eMSP behind the hub (repeat; default DE/AAA, DE/BBB, FR/CCC), each with its "
        "own demo tokens",
    )
    emsp.add_argument("--json", action="store_true", help="print the start-up summary as JSON")
    emsp.set_defaults(run=run_emsp)

    fleet = commands.add_parser(
        "fleet",
        help="run thousands of simulated chargers against a CSMS (a load generator)",
        description="Connect COUNT simulated chargers (a mix of OCPP 1.6J and 2.0.1) in one "
        "process: boot, heartbeats, status changes, charging sessions, random disconnects and "
        "reconnect storms; then print what was sent, answered and how fast. Rates are per second "
        "across the whole fleet. --ceiling measures the rate the generator itself can drive.",
    )
    fleet.add_argument(
        "--url", help="CSMS endpoint, e.g. ws://127.0.0.1:8000/ocpp (omit with --ceiling alone)"
    )
    fleet.add_argument("--count", type=_within(int, 1, MAX_CHARGERS), default=100)
    fleet.add_argument(
        "--mix", type=_within(float, 0, 1), default=0.5, help="share of OCPP 2.0.1 chargers"
    )
    fleet.add_argument("--prefix", default="FLEET-", help="charger ids are PREFIX0001, ...")
    fleet.add_argument("--password", help="HTTP Basic password of every charger (user = its id)")
    fleet.add_argument("--connect", choices=["staggered", "simultaneous"], default="staggered")
    fleet.add_argument(
        "--connect-rate", type=float, default=100.0, help="connections per second when staggered"
    )
    fleet.add_argument(
        "--heartbeat",
        type=float,
        help="seconds between heartbeats (default: the BootNotification answer's; 0: back to back)",
    )
    fleet.add_argument("--status-rate", type=float, default=0.0, help="status changes per second")
    fleet.add_argument(
        "--session-rate", type=float, default=0.0, help="charging sessions started per second"
    )
    fleet.add_argument("--session-seconds", type=float, default=30.0, help="length of a session")
    fleet.add_argument(
        "--meter-interval", type=float, default=10.0, help="seconds between meter values"
    )
    fleet.add_argument(
        "--id-tag",
        action="append",
        default=[],
        help="token to charge with (repeatable; default: one generated tag per charger)",
    )
    fleet.add_argument(
        "--disconnect-rate", type=float, default=0.0, help="random disconnects per second"
    )
    fleet.add_argument(
        "--storm-at", type=float, help="drop every connection after this many seconds"
    )
    fleet.add_argument("--seconds", type=_within(float, 0.1, MAX_SECONDS), default=60.0)
    fleet.add_argument("--seed", type=int, help="for a reproducible run")
    fleet.add_argument("--json", action="store_true", help="print the summary as JSON")
    fleet.add_argument(
        "--progress", action="store_true", help="live progress line even when not on a terminal"
    )
    fleet.add_argument(
        "--ceiling", action="store_true", help="measure the generator's own ceiling first"
    )
    fleet.add_argument(
        "--ceiling-seconds", type=_within(float, 0.5, 60), default=5.0, help="its measuring time"
    )
    fleet.set_defaults(run=run_fleet)
    return parser


def _within(kind: type[int] | type[float], low: float, high: float) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}")
        return value

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    LOG.setLevel(logging.INFO)
    if args.verbose:
        logging.getLogger("ocpp").setLevel(logging.INFO)
    try:
        return int(asyncio.run(args.run(args)))
    except KeyboardInterrupt:
        return 130


def fail(message: str) -> int:
    print(f"cpo-sim: {message}", file=sys.stderr)
    return 1


async def run_charger(args: argparse.Namespace) -> int:
    sim = ChargePointSimulator(
        id=args.id,
        url=args.url,
        ocpp=args.ocpp,
        password=args.password,
        evses=args.evses,
        power_w=args.power,
    )
    try:
        await sim.connect()
    except InvalidStatus as exc:
        code = exc.response.status_code
        return fail(f"{sim.uri} refused charger {args.id!r}: HTTP {code}")
    except (OSError, TimeoutError, WebSocketException) as exc:
        return fail(f"cannot reach {sim.uri}: {exc or type(exc).__name__}")
    try:
        if args.session:
            return await _session(sim, args)
        return await _serve(sim)
    except (CallErrorReceived, TimeoutError, ConnectionClosed, ConnectionError) as exc:
        return fail(f"{args.id}: {type(exc).__name__}: {exc}")
    finally:
        await sim.close()


async def _session(sim: ChargePointSimulator, args: argparse.Namespace) -> int:
    status = await sim.boot()
    if status != "Accepted":
        return fail(f"{sim.id}: BootNotification {status}")
    for evse_id in sim.evse_ids:
        await sim.status(evse_id, "Available")
    pause = args.interval if args.realtime else 0.0
    try:
        tx = await sim.run_session(args.evse, args.id_tag, args.updates, args.interval, pause=pause)
    except SessionRejected as exc:
        return fail(f"{sim.id}: token {args.id_tag!r} not accepted ({exc.status})")
    stop_wh = tx.meter_stop_wh if tx.meter_stop_wh is not None else sim.meter_wh(args.evse)
    summary = {
        "charger": sim.id,
        "ocpp": sim.ocpp,
        "evse_id": tx.evse_id,
        "id_tag": tx.id_tag,
        "transaction_id": tx.transaction_id,
        "status": tx.status,
        "meter_start_wh": tx.meter_start_wh,
        "meter_stop_wh": stop_wh,
        "energy_wh": stop_wh - tx.meter_start_wh,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{sim.id}: transaction {tx.transaction_id} ({tx.status}) on EVSE {tx.evse_id}: "
            f"{summary['energy_wh']} Wh"
        )
    return 0 if tx.status == "Accepted" else 1


async def _serve(sim: ChargePointSimulator) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sim.reconnect = True

    # Pending/Rejected: retry after the interval the CSMS gave (it may also trigger a boot).
    while (await sim.boot()) != "Accepted":
        LOG.info(
            "%s: BootNotification %s, retrying in %ss",
            sim.id,
            sim.registration,
            sim.heartbeat_interval,
        )
        if await _wait(stop, sim.heartbeat_interval or 10) or sim.registration == "Accepted":
            break
    if stop.is_set():
        return 0
    for evse_id in sim.evse_ids:
        await sim.status(evse_id, "Available")
    LOG.info(
        "%s: online via %s (%s), heartbeat every %ss; Ctrl-C to stop",
        sim.id, sim.uri, sim.subprotocol, sim.heartbeat_interval,
    )  # fmt: skip
    while not await _wait(stop, sim.heartbeat_interval or 300):
        if sim.closed:
            continue  # the simulator is reconnecting by itself
        try:
            await sim.heartbeat()
        except (CallErrorReceived, TimeoutError, ConnectionClosed, ConnectionError) as exc:
            LOG.warning("%s: heartbeat failed: %s", sim.id, exc)
    LOG.info("%s: stopping", sim.id)
    return 0


async def run_emsp(args: argparse.Namespace) -> int:
    clients: list[tuple[str, str]] = []
    if args.client and not args.hub:
        return fail("--client names an eMSP behind a hub: add --hub")
    if args.hub:
        try:
            clients = [_party(text) for text in args.client or []] or list(DEFAULT_CLIENTS)
        except ValueError as exc:
            return fail(f"--client: {exc}")
    try:
        if args.hub and args.tokens is None:
            tokens = [t for cc, pid in clients for t in default_tokens(cc, pid, args.version)]
        else:
            tokens = _load_tokens(args.tokens, args.country_code, args.party_id, args.version)
    except (OSError, ValueError) as exc:
        return fail(f"--tokens {args.tokens}: {exc}")
    common: dict[str, Any] = {
        "name": args.name,
        "host": args.host,
        "port": args.port,
        "tokens": tokens,
        "token_encoding": "raw" if args.raw_tokens else None,
        "public_url": args.public_url,
        "version": args.version,
    }
    try:
        sim = (
            HubSimulator(args.country_code, args.party_id, clients, **common)
            if args.hub
            else EmspSimulator(args.country_code, args.party_id, **common)
        )
    except ValueError as exc:
        return fail(str(exc))
    try:
        await sim.start()
    except OSError as exc:
        return fail(f"cannot listen on {args.host}:{args.port}: {exc}")
    try:
        summary: dict[str, Any] = {
            "version": sim.version,
            "versions_url": sim.versions_url,
            "tokens": [f"{t['uid']} ({t['type']})" for t in tokens],
        }
        if args.hub:
            summary["clients"] = [f"{cc}/{pid}" for cc, pid in clients]
        if args.register:
            try:
                credentials = await sim.register(*args.register)
            except OcpiError as exc:
                return fail(f"registration with {args.register[0]} failed: {exc}")
            summary |= {"registered": True, "cpo": sim.state()["cpo"], "credentials": credentials}
        else:
            summary["token_a"] = sim.invite()
        _print_emsp(summary, args.json)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        LOG.info("eMSP simulator stopping: %d requests, %d violations", len(sim.received),
                 len(sim.violations))  # fmt: skip
        return 0
    finally:
        await sim.stop()


def default_tokens(
    country_code: str, party_id: str, version: str = DEFAULT_VERSION
) -> list[dict[str, Any]]:
    """Two demo tokens: a card the CPO may whitelist, an app user it must ask. Their uids name
    the eMSP (two simulators never offer the same token, so a charge is never credited to the
    wrong one) and are never the charger simulator's own default --id-tag."""
    prefix = f"{country_code}-{party_id}"
    return [
        make_token(
            f"{prefix}-CARD-0001", country_code=country_code, party_id=party_id, version=version
        ),
        make_token(
            f"{prefix}-APP-0001",
            type="OTHER" if version == "2.1.1" else "APP_USER",  # 2.1.1 has no APP_USER
            version=version,
            whitelist="NEVER",
            country_code=country_code,
            party_id=party_id,
        ),
    ]


def _party(text: str) -> tuple[str, str]:
    country_code, _, party_id = text.partition("/")
    if len(country_code) != 2 or len(party_id) != 3:
        raise ValueError(f"{text!r} is not CC/PID (a country code and a party id, e.g. DE/AAA)")
    return country_code.upper(), party_id.upper()


def _load_tokens(
    path: Path | None, country_code: str, party_id: str, version: str = DEFAULT_VERSION
) -> list[dict[str, Any]]:
    if path is None:
        return default_tokens(country_code, party_id, version)
    loaded = json.loads(path.read_text())
    tokens = loaded if isinstance(loaded, list) else [loaded]
    for i, token in enumerate(tokens):
        if found := problems(spec(version).models.Token, token, f"Token[{i}]"):
            raise ValueError("; ".join(found))
    return tokens


def _print_emsp(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary), flush=True)
        return
    print(f"eMSP simulator (OCPI {summary['version']}): versions URL {summary['versions_url']}",
          flush=True)  # fmt: skip
    if "clients" in summary:
        print(f"a hub for {', '.join(summary['clients'])}", flush=True)
    print(f"tokens offered: {', '.join(summary['tokens']) or 'none'}", flush=True)
    if "token_a" in summary:
        print(f"token A: {summary['token_a']}")
        print(f"register it on the platform: cpo party register {summary['versions_url']} "
              f"{summary['token_a']}", flush=True)  # fmt: skip
    else:
        cpo = summary["cpo"]
        roles = ", ".join(f"{r['country_code']}/{r['party_id']} {r['role']}" for r in cpo["roles"])
        print(f"registered with {roles} at {cpo['versions_url']}", flush=True)
    print("serving; Ctrl-C to stop", flush=True)


async def run_fleet(args: argparse.Namespace) -> int:
    if args.url is None and not args.ceiling:
        print("cpo-sim fleet: error: --url is required (or --ceiling alone)", file=sys.stderr)
        return 2
    try:
        config = FleetConfig(
            url=args.url or "ws://127.0.0.1/ocpp",  # --ceiling alone: its own server's URL
            count=args.count,
            mix=args.mix,
            prefix=args.prefix,
            password=args.password,
            connect=args.connect,
            connect_rate=args.connect_rate,
            heartbeat=args.heartbeat,
            status_rate=args.status_rate,
            session_rate=args.session_rate,
            session_seconds=args.session_seconds,
            meter_interval=args.meter_interval,
            id_tags=tuple(args.id_tag),
            disconnect_rate=args.disconnect_rate,
            storm_at=args.storm_at,
            seconds=args.seconds,
            seed=args.seed,
        )
    except ValueError as exc:
        print(f"cpo-sim fleet: error: {exc}", file=sys.stderr)
        return 2
    summary: dict[str, Any] = {}
    if args.ceiling:
        summary["ceiling"] = await Fleet.ceiling(config, args.ceiling_seconds)
    if args.url is not None:
        show = args.progress or sys.stderr.isatty()
        printer = _ProgressLine() if show else None
        fleet = Fleet(config, on_progress=printer)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Only the main thread may; a fleet run from a thread ends on its own time.
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                loop.add_signal_handler(sig, fleet.finish)
        try:
            summary = await fleet.run() | summary
        finally:
            if printer is not None:
                printer.end()
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(summary_text(summary), flush=True)
    if args.url is not None and summary["chargers"]["ever_connected"] * 2 < config.count:
        return fail(
            f"most chargers could not connect to {args.url}: "
            + ", ".join(f"{r} ({n})" for r, n in summary["connects"]["reasons"].items())
        )
    return 0


class _ProgressLine:
    """One line on stderr, rewritten in place every second."""

    def __init__(self) -> None:
        self.width = 0

    def __call__(self, progress: Progress) -> None:
        line = progress_line(progress)
        sys.stderr.write("\r" + line.ljust(self.width))
        sys.stderr.flush()
        self.width = len(line)

    def end(self) -> None:
        if self.width:
            sys.stderr.write("\n")
            sys.stderr.flush()


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to seconds; True when asked to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


if __name__ == "__main__":
    sys.exit(main())
