"""The `cpo` command: serve the platform and administer it (each command reads the server's settings)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from cpo.database import migrate
from cpo.operations import Conflict, NotFound, Operations, StationIn, TokenIn, station_view
from cpo.settings import Settings
from csms.db import make_engine, make_sessions


def _run(settings: Settings, work: Callable[[Operations], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        await migrate(settings.database_url)
        engine = make_engine(settings.database_url)
        try:
            return await work(Operations(make_sessions(engine)))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _print(args: argparse.Namespace, data: Any, human: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else human)


def _model(model: type[BaseModel], **fields: Any) -> Any:
    try:
        return model(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()
        )
        raise SystemExit(f"error: {problems}") from None


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from cpo.server import serve

    updates = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    serve(settings.model_copy(update=updates))
    return 0


def cmd_station_add(args: argparse.Namespace, settings: Settings) -> int:
    data = _model(StationIn, id=args.id, password=args.password)
    station = _run(settings, lambda ops: ops.add_station(data))
    _print(
        args,
        station_view(station),
        f"station {station.id} registered"
        + (" with a password" if args.password else " (no password)"),
    )
    return 0


def cmd_station_list(args: argparse.Namespace, settings: Settings) -> int:
    stations = _run(settings, lambda ops: ops.stations())
    rows = [station_view(s) for s in stations]
    human = "\n".join(
        f"{s['id']:<24} {'online ' if s['online'] else 'offline'} {s.get('ocpp_version') or '-':<6} {s.get('vendor') or ''} {s.get('model') or ''}"
        for s in rows
    )
    _print(args, rows, human or "no stations")
    return 0


def cmd_token_add(args: argparse.Namespace, settings: Settings) -> int:
    data = _model(TokenIn, uid=args.uid, type=args.type, status=args.status)
    token = _run(settings, lambda ops: ops.add_token(data))
    _print(args, token.model_dump(mode="json"), f"token {token.uid} ({token.type}) {token.status}")
    return 0


def cmd_token_list(args: argparse.Namespace, settings: Settings) -> int:
    tokens = _run(settings, lambda ops: ops.tokens())
    rows = [t.model_dump(mode="json") for t in tokens]
    _print(
        args,
        rows,
        "\n".join(f"{t['uid']:<24} {t['type']:<8} {t['status']}" for t in rows) or "no tokens",
    )
    return 0


def cmd_admin_token(args: argparse.Namespace, settings: Settings) -> int:
    token, _ = _run(settings, lambda ops: ops.admin_token(settings.admin_token))
    _print(args, {"admin_token": token}, token)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cpo", description="CPO platform: OCPP CSMS bridged to OCPI eMSPs."
    )
    sub = p.add_subparsers(dest="command", required=True)

    def command(
        parent: Any, name: str, fn: Callable[..., int], help: str
    ) -> argparse.ArgumentParser:
        c = parent.add_parser(name, help=help)
        c.add_argument("--json", action="store_true", help="machine-readable output")
        c.set_defaults(fn=fn)
        return c

    serve = command(sub, "serve", cmd_serve, "run the platform")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)

    station = sub.add_parser("station", help="chargers").add_subparsers(
        dest="action", required=True
    )
    add = command(station, "add", cmd_station_add, "register a charger")
    add.add_argument("id")
    add.add_argument(
        "--password", help="HTTP Basic password the charger will use (16-40 characters)"
    )
    command(station, "list", cmd_station_list, "list chargers")

    token = sub.add_parser("token", help="locally authorized id tokens").add_subparsers(
        dest="action", required=True
    )
    tadd = command(token, "add", cmd_token_add, "authorize an id token")
    tadd.add_argument("uid")
    tadd.add_argument("--type", default="RFID")
    tadd.add_argument("--status", default="Accepted", choices=["Accepted", "Blocked", "Expired"])
    command(token, "list", cmd_token_list, "list id tokens")

    command(sub, "admin-token", cmd_admin_token, "print the admin API token")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.fn(args, Settings()))
    except (Conflict, NotFound) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
