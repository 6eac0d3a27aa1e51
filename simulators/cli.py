"""cpo-sim: run simulated OCPP charge points against a CSMS from the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Sequence

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from simulators.charge_point import CallErrorReceived, ChargePointSimulator, SessionRejected

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
    return parser


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


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to seconds; True when asked to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


if __name__ == "__main__":
    sys.exit(main())
