"""Baseline servers for the benchmarks, each meant to run in its own process.

Default: a bare OCPP 1.6 central system on the `ocpp` library alone (an `ocpp.v16.ChargePoint`
per connection, answering BootNotification and Heartbeat — and StatusNotification,
StartTransaction and MeterValues — storing nothing), served by
`websockets.asyncio.server.serve`. With `--echo`: a plain `websockets` server with no ocpp
library that answers every CALL with `[3, id, {}]`, to show the load generator's own ceiling.

    python -m bench.bare_csms --port 9000 [--echo]

Prints `ready <port>` on stdout once it listens; runs until killed. Like the platform, it
validates payloads on the loop's thread (`ocpp.messages.ASYNC_VALIDATION = False`; the
library's default hands each validation to a thread), so the ceiling is the library's best.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import ocpp.messages
import orjson
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, RegistrationStatus
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

ocpp.messages.ASYNC_VALIDATION = False


def _now() -> str:
    return datetime.now(UTC).isoformat()


class BareChargePoint(ChargePoint):
    transactions = 0

    @on(Action.boot_notification)
    def on_boot_notification(self, **kwargs: object) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=_now(), interval=300, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs: object) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=_now())

    # For the benchmarks whose chargers charge: answered, validated, not stored.
    @on(Action.status_notification)
    def on_status_notification(self, **kwargs: object) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.start_transaction)
    def on_start_transaction(self, **kwargs: object) -> call_result.StartTransaction:
        BareChargePoint.transactions += 1
        return call_result.StartTransaction(
            transaction_id=BareChargePoint.transactions, id_tag_info={"status": "Accepted"}
        )

    @on(Action.meter_values)
    def on_meter_values(self, **kwargs: object) -> call_result.MeterValues:
        return call_result.MeterValues()


async def ocpp_handler(websocket: ServerConnection) -> None:
    path = websocket.request.path if websocket.request else "/unknown"
    charge_point = BareChargePoint(path.rstrip("/").rsplit("/", 1)[-1], websocket)
    with contextlib.suppress(ConnectionClosed):
        await charge_point.start()


async def echo_handler(websocket: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for raw in websocket:
            message = orjson.loads(raw)
            if message[0] == 2:
                await websocket.send(orjson.dumps([3, message[1], {}]).decode())


async def run(port: int, echo: bool) -> None:
    handler = echo_handler if echo else ocpp_handler
    async with serve(handler, "127.0.0.1", port, subprotocols=[Subprotocol("ocpp1.6")]) as server:
        print(f"ready {port}", flush=True)
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.bare_csms", description=__doc__.split("\n")[0]
    )
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--echo", action="store_true", help="no ocpp library: answer [3,id,{}]")
    args = p.parse_args(argv)
    # The library logs every message at INFO; a baseline that stores nothing logs nothing.
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.port, args.echo))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
