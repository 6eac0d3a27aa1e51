"""The `cpo` command: serve the platform and administer it (each command reads the server's settings)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

# Loading the platform takes a second or so: a Ctrl-C meanwhile ends as quietly as one later.
try:
    from pydantic import BaseModel, ValidationError
    from sqlalchemy import func
    from sqlmodel import col, select

    from cpo import meta
    from cpo.admin import token as admin_token
    from cpo.console.users_cli import add_user_commands
    from cpo.database import SchemaTooNew, migrate
    from cpo.models import Location, OcpiToken
    from cpo.ocpi.status import OcpiError
    from cpo.operations import Conflict, NotFound, Operations, StationIn, TokenIn, station_view
    from cpo.parties import party_view
    from cpo.roaming import InvitationIn, OriginsIn, RegistrationIn, Roaming
    from cpo.settings import Settings
    from cpo.sites import Invalid, location_object
    from csms.db import make_engine, make_sessions
except KeyboardInterrupt:
    raise SystemExit(130) from None


def _run(settings: Settings, work: Callable[[Operations], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        await migrate(settings.database_url)
        engine = make_engine(settings.database_url)
        try:
            return await work(Operations(make_sessions(engine)))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _roam(settings: Settings, work: Callable[[Roaming], Awaitable[Any]]) -> Any:
    """Runs `work` on the OCPI side, as the server would (its requests land in the same log),
    under the public URL the server recorded: peers are sent where the server really is."""

    async def main() -> Any:
        await migrate(settings.database_url)
        engine = make_engine(settings.database_url)
        sessions = make_sessions(engine)
        served = await meta.public_url(sessions)
        roaming = Roaming(
            settings.model_copy(update={"public_url": served}) if served else settings, sessions
        )
        try:
            return await work(roaming)
        finally:
            await roaming.stop()
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
    from cpo.server import Unservable, serve

    updates = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    try:
        serve(settings.model_copy(update=updates))
    except Unservable as e:
        print(f"cpo: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Brings the schema to this code's head and exits (what `cpo serve` does first)."""
    revision = asyncio.run(migrate(settings.database_url))
    _print(args, {"revision": revision}, f"the database schema is at {revision}, this code's head")
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


def _party_line(p: dict[str, Any]) -> str:
    roles = ", ".join(f"{r['country_code']}/{r['party_id']} {r['role']}" for r in p["roles"])
    line = f"#{p['id']:<4} {p['state']:<12} {p['name'] or '-':<24} {roles or '-'}"
    if p.get("pending_versions_url"):
        line += f"\n      asks to move to {p['pending_versions_url']}: cpo party approve {p['id']}"
    return line


def cmd_party_invite(args: argparse.Namespace, settings: Settings) -> int:
    data = _model(
        InvitationIn,
        name=args.name,
        token_encoding="raw" if args.raw_tokens else None,
        allowed_origins=args.allow_origin,
    )

    async def invite(r: Roaming) -> tuple[dict[str, Any], bool]:
        served = await meta.public_url(r.sites.sessions)
        invited = await r.invite(data.name, data.token_encoding, data.allowed_origins)
        return invited, served is not None

    invitation, served = _roam(settings, invite)
    if not served:
        print(
            "note: no server has started on this database yet: the URL comes from this "
            "shell's CPO_PUBLIC_URL, CPO_HOST and CPO_PORT",
            file=sys.stderr,
        )
    elif settings.listens_everywhere and not settings.public_url:
        print(
            "note: CPO_HOST listens on every interface, so the URL names this machine; "
            "if eMSPs reach it by another name, set CPO_PUBLIC_URL and restart the server",
            file=sys.stderr,
        )
    _print(
        args,
        invitation,
        f"invitation #{invitation['party_id']}: give the eMSP these two, securely\n"
        f"  versions URL  {invitation['versions_url']}\n"
        f"  token A       {invitation['token']}",
    )
    return 0


def cmd_party_register(args: argparse.Namespace, settings: Settings) -> int:
    data = _model(
        RegistrationIn,
        versions_url=args.versions_url,
        token=args.token,
        name=args.name,
        token_encoding="raw" if args.raw_tokens else None,
        allowed_origins=args.allow_origin,
    )

    async def register(r: Roaming) -> tuple[Any, int]:
        party = await r.register(
            data.versions_url, data.token, data.token_encoding, data.name, data.allowed_origins
        )
        # The first pull of the party's tokens runs in the background, which would end with
        # this process: it is waited for, so the tokens are here when the command returns.
        await r.settle()
        async with r.sites.sessions() as session:
            tokens = await session.scalar(
                select(func.count())
                .select_from(OcpiToken)
                .where(col(OcpiToken.owner_id) == party.id, col(OcpiToken.valid).is_(True))
            )
        return party, int(tokens or 0)

    party, tokens = _roam(settings, register)
    view = party_view(party) | {"tokens": tokens}
    _print(args, view, "registered: " + _party_line(view) + f"  ({tokens} tokens pulled)")
    return 0


def cmd_party_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = [party_view(p) for p in _roam(settings, lambda r: r.parties.all())]
    _print(args, rows, "\n".join(_party_line(p) for p in rows) or "no parties")
    return 0


def cmd_party_change(args: argparse.Namespace, settings: Settings) -> int:
    async def change(r: Roaming) -> Any:
        if args.action == "unregister":
            problem = await r.unregister(args.id)
            if problem:
                print(f"warning: the peer was not told: {problem}", file=sys.stderr)
            return await r.party(args.id)
        return await getattr(r, args.action)(args.id)

    view = party_view(_roam(settings, change))
    _print(args, view, _party_line(view))
    return 0


def cmd_party_origins(args: argparse.Namespace, settings: Settings) -> int:
    data = _model(OriginsIn, allowed_origins=args.origins)
    view = party_view(_roam(settings, lambda r: r.allow_origins(args.id, data.allowed_origins)))
    _print(args, view, f"{_party_line(view)}\n  allowed origins: {_listed(view)}")
    return 0


def cmd_party_move(args: argparse.Namespace, settings: Settings) -> int:
    """approve | reject the move to another origin a party asked for."""
    work = Roaming.approve_move if args.action == "approve" else Roaming.reject_move
    view = party_view(_roam(settings, lambda r: work(r, args.id)))
    _print(args, view, f"{_party_line(view)}\n  versions URL: {view['versions_url']}")
    return 0


def _listed(view: dict[str, Any]) -> str:
    return ", ".join(view["allowed_origins"]) or "none besides the versions URL's"


def _import(args: argparse.Namespace, settings: Settings, kind: str) -> int:
    try:
        raw = json.loads(Path(args.file).read_text())
    except (OSError, ValueError) as e:
        print(f"error: cannot read {args.file}: {e}", file=sys.stderr)
        return 1

    async def work(r: Roaming) -> Any:
        if kind == "location":
            return await r.sites.upsert_locations(raw)
        return await r.sites.upsert_tariffs(raw)

    try:
        done = _roam(settings, work)
    except Invalid as e:
        print(f"error: nothing imported, {len(e.problems)} problem(s):", file=sys.stderr)
        for p in e.problems:
            print(f"  {p['field']}: {p['problem']}", file=sys.stderr)
        return 1
    rows = [d.view() for d in done]
    human = "\n".join(
        f"{kind} {d['id']}: {'created' if d['created'] else 'updated' if d['changed'] else 'unchanged'}"
        for d in rows
    )
    ignored = [uid for d in done for uid in d.status_ignored]
    if ignored:
        human += (
            f"\n{len(ignored)} EVSE status{'es' if len(ignored) > 1 else ''} ignored: the charger"
            f" reports them (only PLANNED and REMOVED are taken from a file): {', '.join(ignored)}"
        )
    _print(args, rows, human or f"no {kind}s in {args.file}")
    return 0


def cmd_location_import(args: argparse.Namespace, settings: Settings) -> int:
    return _import(args, settings, "location")


def cmd_tariff_import(args: argparse.Namespace, settings: Settings) -> int:
    return _import(args, settings, "tariff")


def cmd_location_list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(r: Roaming) -> Any:
        async with r.sites.sessions() as session:
            rows = list(
                (await session.execute(select(Location).order_by(col(Location.id)))).scalars()
            )
            evses = await r.sites.evses_of(session, [x.id for x in rows if x.id is not None])
            return [location_object(x, evses[x.id]) for x in rows if x.id is not None]

    rows = _roam(settings, work)
    human = "\n".join(
        f"{loc['id']:<20} {loc['name'] if 'name' in loc else '-':<24} "
        + " ".join(f"{e['uid']}:{e['status']}" for e in loc["evses"])
        for loc in rows
    )
    _print(args, rows, human or "no locations")
    return 0


def cmd_admin_token(args: argparse.Namespace, settings: Settings) -> int:
    if settings.admin_token:
        print(
            "error: CPO_ADMIN_TOKEN is set, and a server with it takes only that token: "
            "change it where it is set (nothing was issued)",
            file=sys.stderr,
        )
        return 1
    token = _run(settings, lambda ops: admin_token.issue(ops.sessions))
    _print(args, {"admin_token": token}, token)
    return 0


ALLOW_ORIGIN = "scheme://host[:port] the party may also be called at (repeatable)"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0 to 65535)")
    return port


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

    serve = command(sub, "serve", cmd_serve, "run the platform (Ctrl-C stops it)")
    serve.add_argument("--host", help="where to listen (CPO_HOST)")
    serve.add_argument("--port", type=_port, help="where to listen (CPO_PORT; 0: any free port)")

    command(
        sub, "migrate", cmd_migrate, "bring the database schema to this code's revision and exit"
    )

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

    party = sub.add_parser("party", help="OCPI peers (eMSPs)").add_subparsers(
        dest="action", required=True
    )
    invite = command(party, "invite", cmd_party_invite, "make a token A for an eMSP to register")
    invite.add_argument("--name", help="a label for the invitation")
    invite.add_argument("--raw-tokens", action="store_true", help="the peer sends raw tokens")
    invite.add_argument("--allow-origin", action="append", default=[], help=ALLOW_ORIGIN)
    register = command(
        party, "register", cmd_party_register, "register with an eMSP from its versions URL"
    )
    register.add_argument("versions_url")
    register.add_argument("token", help="the token A the eMSP gave you")
    register.add_argument("--name")
    register.add_argument("--raw-tokens", action="store_true", help="send the token unencoded")
    register.add_argument("--allow-origin", action="append", default=[], help=ALLOW_ORIGIN)
    command(party, "list", cmd_party_list, "list parties")
    for action, help in [
        ("suspend", "stop all traffic with a party"),
        ("resume", "resume a suspended party"),
        ("rotate", "new tokens both ways (credentials PUT)"),
        ("unregister", "tell the peer and drop both tokens"),
    ]:
        command(party, action, cmd_party_change, help).add_argument("id", type=int)
    origins = command(
        party, "origins", cmd_party_origins, "set the origins a party may be called at"
    )
    origins.add_argument("id", type=int)
    origins.add_argument(
        "origins",
        nargs="*",
        help="scheme://host[:port] besides its versions URL's (none: only that)",
    )
    for action, help in [
        ("approve", "let a party move to the origin it asked for"),
        ("reject", "keep a party where it is, forget the move it asked for"),
    ]:
        command(party, action, cmd_party_move, help).add_argument("id", type=int)

    location = sub.add_parser("location", help="OCPI Locations").add_subparsers(
        dest="action", required=True
    )
    command(
        location, "import", cmd_location_import, "create or update Locations from OCPI JSON"
    ).add_argument("file")
    command(location, "list", cmd_location_list, "list Locations with their EVSE statuses")
    tariff = sub.add_parser("tariff", help="OCPI Tariffs").add_subparsers(
        dest="action", required=True
    )
    command(
        tariff, "import", cmd_tariff_import, "create or update Tariffs from OCPI JSON"
    ).add_argument("file")

    command(
        sub,
        "admin-token",
        cmd_admin_token,
        "issue a new admin API token and print it: the one before stops working, also in a"
        " running server (only a hash is stored, so a token cannot be shown again)",
    )
    add_user_commands(sub)
    return p


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as e:
        for err in e.errors():
            name = "CPO_" + "_".join(map(str, err["loc"])).upper()
            print(f"cpo: {name}: {err['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.fn(args, _settings()))
    except (Conflict, NotFound) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OcpiError as e:
        print(f"error: OCPI {e.status}: {e.message}", file=sys.stderr)
        return 1
    except SchemaTooNew as e:  # every command migrates first
        print(f"cpo: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: whatever ran has stopped; no traceback
        return 130


if __name__ == "__main__":
    sys.exit(main())
