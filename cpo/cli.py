"""The `cpo` command: serve the platform, and administer a running one through its admin API.

Every command the server can do is a call to its admin API (CPO_ADMIN_URL, CPO_ADMIN_TOKEN), so
the CLI works from any machine and what it hands out (an invitation's URL) is the server's own.
Only `serve`, `migrate`, `admin-token` and `user` (the console's accounts, cpo/console/users_cli.py)
open the database: they run before there is a server to ask, or issue what the others need to
get in (ADR 020).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

# Loading the platform takes a second or so: a Ctrl-C meanwhile ends as quietly as one later.
try:
    from pydantic import ValidationError

    from cpo.admin.client import AdminClient, AdminError
    from cpo.console.users_cli import add_user_commands
    from cpo.settings import Settings
except KeyboardInterrupt:
    raise SystemExit(130) from None


INSTALLED_TYPES = [
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
    "V2GRootCertificate",
    "MORootCertificate",
    "V2GCertificateChain",
]


def _admin(settings: Settings) -> AdminClient:
    if not settings.admin_url and settings.port == 0:
        raise AdminError("CPO_PORT is 0 (any free port): set CPO_ADMIN_URL to the server's URL")
    return AdminClient(settings.admin_api_url, settings.admin_token)


def _print(args: argparse.Namespace, data: Any, human: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else human)


def _segment(value: str) -> str:
    """One path segment, whatever the operator typed (a slash, a question mark, ...)."""
    return quote(value, safe="")


def _read_json(file: str) -> Any:
    try:
        return json.loads(Path(file).read_text())
    except (OSError, ValueError) as e:
        raise AdminError(f"cannot read {file}: {e}") from None


# -- database commands: before there is a server to ask ---------------------------------------


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
    from cpo.schema import SchemaTooNew, migrate

    try:
        revision = asyncio.run(migrate(settings.database_url))
    except SchemaTooNew as e:
        print(f"cpo: {e}", file=sys.stderr)
        return 1
    _print(args, {"revision": revision}, f"the database schema is at {revision}, this code's head")
    return 0


def cmd_admin_token(args: argparse.Namespace, settings: Settings) -> int:
    from cpo.admin import token as admin_token
    from cpo.schema import SchemaTooNew, migrate
    from csms.db import make_database, make_engine

    if settings.admin_token:
        print(
            "error: CPO_ADMIN_TOKEN is set, and a server started with it takes only that token:"
            " change it where the server reads it, or unset it in this shell to issue a stored"
            " one (nothing was issued)",
            file=sys.stderr,
        )
        return 1

    async def issue() -> str:
        await migrate(settings.database_url)
        engine = make_engine(settings.database_url)
        try:
            return await admin_token.issue(make_database(engine))
        finally:
            await engine.dispose()

    try:
        token = asyncio.run(issue())
    except SchemaTooNew as e:
        print(f"cpo: {e}", file=sys.stderr)
        return 1
    _print(args, {"admin_token": token}, token)
    return 0


# -- stations, tokens and commands ------------------------------------------------------------


def _station_line(s: dict[str, Any]) -> str:
    state = "online " if s["online"] else "offline"
    return (
        f"{s['id']:<24} {state} {s.get('ocpp_version') or '-':<6} "
        f"{s.get('vendor') or ''} {s.get('model') or ''}".rstrip()
    )


def cmd_station_add(args: argparse.Namespace, settings: Settings) -> int:
    body: dict[str, object] = {"id": args.id}
    if args.password:
        body["password"] = args.password
    if args.security_profile:
        body["security_profile"] = args.security_profile
    station = _admin(settings).call("POST", "/stations", json=body)
    _print(
        args,
        station,
        f"station {station['id']} registered"
        + (" with a password" if station["password_set"] else " (no password)"),
    )
    return 0


def cmd_station_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = _admin(settings).call("GET", "/stations")
    _print(args, rows, "\n".join(_station_line(s) for s in rows) or "no stations")
    return 0


def cmd_station_show(args: argparse.Namespace, settings: Settings) -> int:
    s = _admin(settings).call("GET", f"/stations/{_segment(args.id)}")
    lines = [
        _station_line(s),
        f"  firmware {s.get('firmware_version') or '-'}, serial {s.get('serial_number') or '-'}",
        f"  last seen {s.get('last_seen') or 'never'}, password {'set' if s['password_set'] else 'none'}",
    ]
    lines += [
        f"  EVSE {c['evse_id']} connector {c['connector_id']}: {c.get('status') or 'unknown'}"
        + (f" ({c['status_detail']})" if c.get("status_detail") else "")
        for c in s["connectors"]
    ]
    _print(args, s, "\n".join(lines))
    return 0


def cmd_station_model(args: argparse.Namespace, settings: Settings) -> int:
    params = {k: v for k, v in (("component", args.component), ("variable", args.variable)) if v}
    rows = _admin(settings).call(
        "GET", f"/stations/{_segment(args.id)}/device-model", params=params
    )
    lines = []
    for r in rows:
        where = r["component"] + (f"[{r['component_instance']}]" if r["component_instance"] else "")
        if r["evse_id"]:
            where += f" EVSE {r['evse_id']}" + (
                f" connector {r['connector_id']}" if r["connector_id"] else ""
            )
        name = r["variable"] + (f"[{r['variable_instance']}]" if r["variable_instance"] else "")
        values = ", ".join(
            f"{a.get('type') or 'Actual'}={a.get('value', '-')}" for a in r["attributes"]
        )
        lines.append(f"{where:<40} {name:<32} {values}")
    _print(
        args, rows, "\n".join(lines) or "no device model reported (cpo command ID get_base_report)"
    )
    return 0


def _campaign_line(c: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {state}" for state, n in sorted((c.get("states") or {}).items()))
    return f"#{c['id']:<4} {c['location']}  {counts or '-'}"


def cmd_firmware_start(args: argparse.Namespace, settings: Settings) -> int:
    body: dict[str, Any] = {"location": args.location, "stations": args.stations}
    if args.attempts is not None:
        body["attempts"] = args.attempts
    campaign = _admin(settings).call("POST", "/firmware/campaigns", json=body)
    _print(args, campaign, f"campaign #{campaign['id']} started on {len(args.stations)} chargers")
    return 0


def cmd_firmware_list(args: argparse.Namespace, settings: Settings) -> int:
    campaigns = _admin(settings).call("GET", "/firmware/campaigns")
    _print(args, campaigns, "\n".join(_campaign_line(c) for c in campaigns) or "no campaigns")
    return 0


def cmd_firmware_show(args: argparse.Namespace, settings: Settings) -> int:
    c = _admin(settings).call("GET", f"/firmware/campaigns/{_segment(str(args.id))}")
    lines = [f"#{c['id']} {c['location']}"] + [
        f"  {ch['station_id']:<24} {ch['state']:<10} attempts {ch['attempts']}"
        f"  {ch.get('firmware_status') or '-'}"
        for ch in c["chargers"]
    ]
    _print(args, c, "\n".join(lines))
    return 0


def cmd_firmware_cancel(args: argparse.Namespace, settings: Settings) -> int:
    c = _admin(settings).call("POST", f"/firmware/campaigns/{_segment(str(args.id))}/cancel")
    _print(
        args,
        c,
        f"campaign #{c['id']} cancelled: {c['states'].get('cancelled', 0)} chargers left it",
    )
    return 0


def cmd_station_remove(args: argparse.Namespace, settings: Settings) -> int:
    _admin(settings).call("DELETE", f"/stations/{_segment(args.id)}")
    _print(args, {"id": args.id, "removed": True}, f"station {args.id} removed")
    return 0


def _provisioning_path(station: str | None, key: str | None = None) -> str:
    path = f"/stations/{_segment(station)}/provisioning" if station else "/provisioning"
    return f"{path}/{_segment(key)}" if key else path


def cmd_provision_show(args: argparse.Namespace, settings: Settings) -> int:
    data = _admin(settings).call("GET", _provisioning_path(args.station))
    if not args.station:
        lines = [f"{k['key']:<50} {k['value']}" for k in data]
        _print(args, data, "\n".join(lines) or "no key for every station")
        return 0
    answers = {r["key"]: r["status"] for r in data["results"]}
    lines = [
        f"boot: {data['boot_status'] or '-'}" + (f" ({data['reason']})" if data["reason"] else "")
    ]
    lines += [f"{k:<50} {v:<30} {answers.get(k, '-')}" for k, v in data["wanted"].items()]
    _print(args, data, "\n".join(lines))
    return 0


def cmd_provision_set(args: argparse.Namespace, settings: Settings) -> int:
    path = _provisioning_path(args.station, args.key)
    row = _admin(settings).call("PUT", path, json={"value": args.value})
    _print(args, row, f"{row['key']} = {row['value']} ({args.station or 'every station'})")
    return 0


def cmd_provision_remove(args: argparse.Namespace, settings: Settings) -> int:
    _admin(settings).call("DELETE", _provisioning_path(args.station, args.key))
    _print(args, {"key": args.key, "removed": True}, f"{args.key} removed")
    return 0


def cmd_token_add(args: argparse.Namespace, settings: Settings) -> int:
    body = {"uid": args.uid, "type": args.type, "status": args.status}
    token = _admin(settings).call("POST", "/tokens", json=body)
    _print(args, token, f"token {token['uid']} ({token['type']}) {token['status']}")
    return 0


def cmd_token_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = _admin(settings).call("GET", "/tokens")
    human = "\n".join(f"{t['uid']:<24} {t['type']:<8} {t['status']}" for t in rows)
    _print(args, rows, human or "no tokens")
    return 0


def cmd_token_remove(args: argparse.Namespace, settings: Settings) -> int:
    path = f"/tokens/{_segment(args.uid)}"
    _admin(settings).call("DELETE", path, params={"type": args.type})
    done = {"uid": args.uid, "type": args.type, "removed": True}
    _print(args, done, f"token {args.uid} ({args.type}) removed")
    return 0


def command_body(words: list[str]) -> dict[str, Any]:
    """A command's arguments: a JSON object, or key=value (a text the server reads as the
    field's type: evse_id=1, operative=false) and key:=JSON (a list, an object, null)."""
    if len(words) == 1 and words[0].lstrip().startswith("{"):
        try:
            body = json.loads(words[0])
        except ValueError as e:
            raise AdminError(f"the JSON body is not valid JSON: {e}") from None
        if not isinstance(body, dict):
            raise AdminError("the JSON body must be an object")
        return body
    body = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise AdminError(f"{word!r}: give arguments as key=value, key:=JSON or one JSON object")
        if key.endswith(":"):
            try:
                body[key[:-1]] = json.loads(value)
            except ValueError:
                raise AdminError(f"{word!r}: the value after := is not valid JSON") from None
        else:
            body[key] = value
    return body


def cmd_command(args: argparse.Namespace, settings: Settings) -> int:
    body = command_body(args.arguments)
    path = f"/stations/{_segment(args.station)}/commands/{_segment(args.name)}"
    result = _admin(settings).call("POST", path, json=body)
    human = f"{args.name} on {args.station}: {result.get('status') or 'answered'}"
    extra = {k: v for k, v in (result.get("data") or {}).items() if k != "status"}
    if extra:
        human += "\n" + json.dumps(extra, indent=2)
    _print(args, result, human)
    return 0


# -- certificates -------------------------------------------------------------------------------


def _run(settings: Settings, station: str, name: str, body: dict[str, Any]) -> Any:
    path = f"/stations/{_segment(station)}/commands/{_segment(name)}"
    return _admin(settings).call("POST", path, json=body)


def cmd_certificate_list(args: argparse.Namespace, settings: Settings) -> int:
    params: dict[str, Any] = {}
    if args.expiring_within_days is not None:
        params["expiring_within_days"] = args.expiring_within_days
    if args.station:
        params["station_id"] = args.station
    rows = _admin(settings).call("GET", "/certificates", params=params)
    human = "\n".join(
        f"{c['station_id']:<24} {c['not_after']}  {c['kind']:<26} {c['serial']}" for c in rows
    )
    _print(args, rows, human or "no certificates")
    return 0


def cmd_certificate_installed(args: argparse.Namespace, settings: Settings) -> int:
    body = {"certificate_types": args.type} if args.type else {}
    result = _run(settings, args.station, "get_installed_certificate_ids", body)
    lines = [
        f"{c['certificate_type']:<28} {h['hash_algorithm']} serial {h['serial_number']}"
        f" issuer {h['issuer_name_hash']} key {h['issuer_key_hash']}"
        for c in (result.get("data") or {}).get("certificates", [])
        for h in [c["certificate_hash_data"]]
    ]
    _print(args, result, "\n".join(lines) or f"{args.station}: {result.get('status')}")
    return 0


def cmd_certificate_install(args: argparse.Namespace, settings: Settings) -> int:
    try:
        pem = Path(args.file).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise AdminError(f"cannot read {args.file}: {e}") from None
    body = {"certificate_type": args.type, "certificate": pem}
    result = _run(settings, args.station, "install_certificate", body)
    _print(args, result, f"install_certificate on {args.station}: {result.get('status')}")
    return 0


def cmd_certificate_delete(args: argparse.Namespace, settings: Settings) -> int:
    body = {
        "hash_algorithm": args.hash_algorithm,
        "issuer_name_hash": args.issuer_name_hash,
        "issuer_key_hash": args.issuer_key_hash,
        "serial_number": args.serial_number,
    }
    result = _run(settings, args.station, "delete_certificate", body)
    _print(args, result, f"delete_certificate on {args.station}: {result.get('status')}")
    return 0


def cmd_certificate_renew(args: argparse.Namespace, settings: Settings) -> int:
    result = _run(settings, args.station, "renew_certificate", {"certificate_type": args.type})
    _print(args, result, f"renew_certificate on {args.station}: {result.get('status')}")
    return 0


# -- parties ------------------------------------------------------------------------------------


def _party_line(p: dict[str, Any]) -> str:
    roles = ", ".join(f"{r['country_code']}/{r['party_id']} {r['role']}" for r in p["roles"])
    version = p.get("version") or "-"
    line = f"#{p['id']:<4} {p['state']:<12} {version:<6} {p['name'] or '-':<24} {roles or '-'}"
    if p.get("hub_id"):
        line += f"  (via hub #{p['hub_id']}: {p.get('client_status') or 'status unknown'})"
    if p.get("pending_versions_url"):
        line += f"\n      asks to move to {p['pending_versions_url']}: cpo party approve {p['id']}"
    return line


def cmd_party_invite(args: argparse.Namespace, settings: Settings) -> int:
    body: dict[str, Any] = {"name": args.name or "", "allowed_origins": args.allow_origin}
    if args.raw_tokens:
        body["token_encoding"] = "raw"
    invitation = _admin(settings).call("POST", "/parties/invitations", json=body)
    if invitation.get("note"):
        print(f"note: {invitation['note']}", file=sys.stderr)
    _print(
        args,
        invitation,
        f"invitation #{invitation['party_id']}: give the eMSP these two, securely\n"
        f"  versions URL  {invitation['versions_url']}\n"
        f"  token A       {invitation['token']}",
    )
    return 0


def cmd_party_register(args: argparse.Namespace, settings: Settings) -> int:
    body: dict[str, Any] = {
        "versions_url": args.versions_url,
        "token": args.token,
        "name": args.name or "",
        "allowed_origins": args.allow_origin,
    }
    if args.raw_tokens:
        body["token_encoding"] = "raw"
    view = _admin(settings).call("POST", "/parties/registrations", json=body)
    _print(args, view, "registered: " + _party_line(view) + f"  ({view['tokens']} tokens pulled)")
    return 0


def cmd_party_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = _admin(settings).call("GET", "/parties")
    _print(args, rows, "\n".join(_party_line(p) for p in rows) or "no parties")
    return 0


def cmd_party_change(args: argparse.Namespace, settings: Settings) -> int:
    admin = _admin(settings)
    if args.action == "unregister":
        view = admin.call("DELETE", f"/parties/{args.id}")
        if not view["peer_told"]:
            print(f"warning: the peer was not told: {view['peer_problem']}", file=sys.stderr)
    else:
        view = admin.call("POST", f"/parties/{args.id}/{args.action}")
    _print(args, view, _party_line(view))
    return 0


def cmd_party_clients(args: argparse.Namespace, settings: Settings) -> int:
    """A hub's list of the parties it relays for, fetched again; then every party behind it."""
    admin = _admin(settings)
    pulled = admin.call("POST", f"/parties/{args.id}/clients/pull")
    behind = [p for p in admin.call("GET", "/parties") if p.get("hub_id") == args.id]
    human = f"{pulled['kept']} listed, {pulled['skipped']} skipped\n" + "\n".join(
        _party_line(p) for p in behind
    )
    _print(args, {"pulled": pulled, "clients": behind}, human)
    return 0


def cmd_party_origins(args: argparse.Namespace, settings: Settings) -> int:
    body = {"allowed_origins": args.origins}
    view = _admin(settings).call("PUT", f"/parties/{args.id}/origins", json=body)
    listed = ", ".join(view["allowed_origins"]) or "none besides the versions URL's"
    _print(args, view, f"{_party_line(view)}\n  allowed origins: {listed}")
    return 0


def cmd_party_move(args: argparse.Namespace, settings: Settings) -> int:
    """approve | reject the move to another origin a party asked for."""
    view = _admin(settings).call("POST", f"/parties/{args.id}/move/{args.action}")
    _print(args, view, f"{_party_line(view)}\n  versions URL: {view['versions_url']}")
    return 0


# -- locations and tariffs ------------------------------------------------------------------


def _import(args: argparse.Namespace, settings: Settings, kind: str) -> int:
    raw = _read_json(args.file)
    try:
        done = _admin(settings).call("POST", f"/{kind}s", json=raw)
    except AdminError as e:
        problems = e.problem.get("errors") if e.problem.get("status") == 422 else None
        if not problems:
            raise
        print(f"error: nothing imported, {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  {p.get('field')}: {p.get('problem')}", file=sys.stderr)
        return 1
    human = "\n".join(
        f"{kind} {d['id']}: {'created' if d['created'] else 'updated' if d['changed'] else 'unchanged'}"
        for d in done
    )
    ignored = [uid for d in done for uid in d.get("status_ignored") or []]
    if ignored:
        human += (
            f"\n{len(ignored)} EVSE status{'es' if len(ignored) > 1 else ''} ignored: the charger"
            f" reports them (only PLANNED and REMOVED are taken from a file): {', '.join(ignored)}"
        )
    _print(args, done, human or f"no {kind}s in {args.file}")
    return 0


def cmd_location_import(args: argparse.Namespace, settings: Settings) -> int:
    return _import(args, settings, "location")


def cmd_tariff_import(args: argparse.Namespace, settings: Settings) -> int:
    return _import(args, settings, "tariff")


def _location_line(loc: dict[str, Any]) -> str:
    evses = " ".join(f"{e['uid']}:{e['status']}" for e in loc.get("evses") or [])
    return f"{loc['id']:<20} {loc.get('name') or '-':<24} {evses}".rstrip()


def cmd_location_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = _admin(settings).call("GET", "/locations")
    _print(args, rows, "\n".join(_location_line(x) for x in rows) or "no locations")
    return 0


def cmd_location_show(args: argparse.Namespace, settings: Settings) -> int:
    loc = _admin(settings).call("GET", f"/locations/{_segment(args.id)}")
    lines = [
        _location_line(loc),
        f"  {loc['address']}, {loc.get('postal_code') or ''} {loc['city']}, {loc['country']}",
        f"  {'published' if loc['publish'] else 'hidden'}, updated {loc['last_updated']}",
    ]
    for evse in loc.get("evses") or []:
        connectors = ", ".join(
            f"{c['id']} {c['standard']} {','.join(c.get('tariff_ids') or []) or 'no tariff'}"
            for c in evse.get("connectors") or []
        )
        lines.append(f"  EVSE {evse['uid']} {evse['status']}: {connectors}")
    _print(args, loc, "\n".join(lines))
    return 0


def cmd_location_power_limit(args: argparse.Namespace, settings: Settings) -> int:
    """Shows the Location's power limit; with WATTS sets it, with --remove lifts it."""
    path = f"/locations/{_segment(args.id)}/power-limit"
    if args.remove:
        _admin(settings).call("DELETE", path)
        _print(args, {"id": args.id, "removed": True}, f"location {args.id}: no power limit")
        return 0
    if args.watts is not None:
        limit = _admin(settings).call("PUT", path, json={"limit_w": args.watts})
    else:
        limit = _admin(settings).call("GET", path)
    lines = [f"location {limit['location_id']}: {limit['limit_w']} W"] + [
        f"  {c['station_id']:<24} "
        + ("nothing held yet" if c["limit_w"] is None else f"{c['limit_w']:g} W")
        for c in limit["chargers"]
    ]
    _print(args, limit, "\n".join(lines))
    return 0


def cmd_tariff_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = _admin(settings).call("GET", "/tariffs")
    human = "\n".join(
        f"{t['id']:<24} {t['currency']} "
        + "; ".join(
            ", ".join(f"{c['type']} {c['price']}" for c in e.get("price_components") or [])
            for e in t.get("elements") or []
        )
        for t in rows
    )
    _print(args, rows, human or "no tariffs")
    return 0


def cmd_tariff_remove(args: argparse.Namespace, settings: Settings) -> int:
    _admin(settings).call("DELETE", f"/tariffs/{_segment(args.id)}")
    _print(args, {"id": args.id, "removed": True}, f"tariff {args.id} removed (eMSPs are told)")
    return 0


# -- sessions and CDRs --------------------------------------------------------------------------


def _session_line(s: dict[str, Any]) -> str:
    session = s["session"]
    token = session.get("cdr_token") or {}
    return (
        f"{s['id']}  {s['status']:<9} {session.get('kwh', 0):>9.3f} kWh  "
        f"{session.get('location_id') or '-'}/{session.get('evse_uid') or '-'}  "
        f"{token.get('country_code', '')}-{token.get('party_id', '')} {token.get('uid', '')}  "
        f"{session.get('start_date_time') or ''}"
    )


def cmd_session_list(args: argparse.Namespace, settings: Settings) -> int:
    params = {"limit": args.limit, "status": args.status}
    rows = _admin(settings).call("GET", "/sessions", params=params)
    _print(args, rows, "\n".join(_session_line(s) for s in rows) or "no sessions")
    return 0


def cmd_session_show(args: argparse.Namespace, settings: Settings) -> int:
    s = _admin(settings).call("GET", f"/sessions/{_segment(args.id)}")
    lines = [_session_line(s), f"  transaction {s['transaction_id']}"]
    if s["flags"]:
        lines.append("  flags: " + "; ".join(s["flags"]))
    for cdr in s["cdrs"]:
        cost = cdr.get("total_cost") or {}
        lines.append(
            f"  CDR {cdr['id']}{' (credit)' if cdr['credit'] else ''}: "
            f"{cost.get('excl_vat', 0)} excl. VAT"
        )
    _print(args, s, "\n".join(lines))
    return 0


def _cdr_filter(args: argparse.Namespace) -> dict[str, Any]:
    return {"from": args.start, "to": args.end, "party": args.party, "location": args.location}


def _money(revenue: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"{r['currency']} {r['excl_vat']:.2f} excl. VAT"
        + (f" ({r['incl_vat']:.2f} incl.)" if r["incl_vat"] is not None else "")
        for r in revenue
    )


def cmd_cdr_list(args: argparse.Namespace, settings: Settings) -> int:
    admin = _admin(settings)
    params = _cdr_filter(args) | {"limit": args.limit, "offset": args.offset}
    page = admin.call("GET", "/cdrs", params=params)
    if args.json:
        _print(args, page, "")
        return 0
    summary = admin.call("GET", "/cdrs/summary", params=_cdr_filter(args))
    lines = [
        f"{c['id']:<40} {c['end_date_time']}  {c['energy_kwh']:>9.3f} kWh  "
        f"{c['currency']} {c['cost_excl_vat']:>9.2f}  {c['emsp']:<7} {c['location_id']}"
        + ("  credit" if c["credit"] else "")
        for c in page["cdrs"]
    ]
    shown = f"{len(page['cdrs'])} of {page['total']}" if page["total"] > len(page["cdrs"]) else ""
    lines.append(
        f"{summary['cdrs']} CDRs{f' ({shown} shown)' if shown else ''}, "
        f"{summary['energy_kwh']:.3f} kWh"
        + (f", {_money(summary['revenue'])}" if summary["revenue"] else "")
    )
    print("\n".join(lines))
    return 0


def cmd_cdr_summary(args: argparse.Namespace, settings: Settings) -> int:
    summary = _admin(settings).call("GET", "/cdrs/summary", params=_cdr_filter(args))
    lines = [
        f"{d['date']}  {d['cdrs']:>5} CDRs  {d['energy_kwh']:>10.3f} kWh  {_money(d['revenue'])}"
        for d in summary["days"]
    ]
    lines.append(
        f"total {summary['cdrs']} CDRs, {summary['energy_kwh']:.3f} kWh"
        + (f", {_money(summary['revenue'])}" if summary["revenue"] else "")
    )
    _print(args, summary, "\n".join(lines))
    return 0


def _download(admin: AdminClient, path: str, params: dict[str, Any], file: str) -> int | None:
    """The answer of `path` written to `file` (-: standard output); the bytes written to a file."""
    if file == "-":
        admin.download(path, params, sys.stdout.buffer)
        sys.stdout.flush()
        return None
    target = Path(file)
    partial = target.with_name(target.name + ".part")
    try:
        with partial.open("wb") as out:
            written = admin.download(path, params, out)
        partial.replace(target)  # a failed download leaves no half a file under the name
    except OSError as e:
        raise AdminError(f"cannot write {file}: {e}") from None
    finally:
        partial.unlink(missing_ok=True)
    return written


def cmd_cdr_export(args: argparse.Namespace, settings: Settings) -> int:
    params = _cdr_filter(args) | {"format": "csv"}
    written = _download(_admin(settings), "/cdrs", params, args.file)
    if written is not None:
        _print(
            args,
            {"file": args.file, "bytes": written},
            f"CDRs written to {args.file} ({written} bytes)",
        )
    return 0


# -- files chargers uploaded (get_diagnostics, get_log) -----------------------------------------


def cmd_upload_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = _admin(settings).call(
        "GET", f"/stations/{_segment(args.station)}/uploads", params={"limit": args.limit}
    )
    human = "\n".join(
        f"#{u['id']:<6} {u['kind']:<14} {u['status']:<14} requested {u['requested_at']}"
        + (
            f"  {u['size']} bytes {u.get('file_name') or ''}".rstrip()
            if u.get("received_at")
            else "  not received"
        )
        for u in rows
    )
    _print(args, rows, human or "no uploads")
    return 0


def cmd_upload_get(args: argparse.Namespace, settings: Settings) -> int:
    written = _download(_admin(settings), f"/uploads/{args.id}", {}, args.file)
    if written is not None:
        _print(
            args,
            {"id": args.id, "file": args.file, "bytes": written},
            f"upload {args.id} written to {args.file} ({written} bytes)",
        )
    return 0


# -- the parser ---------------------------------------------------------------------------------

ALLOW_ORIGIN = "scheme://host[:port] the party may also be called at (repeatable)"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0 to 65535)")
    return port


def _id(text: str) -> int:
    """A party id: a positive 64-bit integer."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value < 1 << 63:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a party id (a number, as in `cpo party list`)"
        )
    return value


def _upload_id(text: str) -> int:
    """An upload id: a positive 64-bit integer."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value < 1 << 63:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an upload id (a number, as in `cpo upload list`)"
        )
    return value


def command(
    parent: Any, name: str, fn: Callable[[argparse.Namespace, Settings], int], help: str
) -> argparse.ArgumentParser:
    """A subcommand running `fn(args, settings)`; every one takes --json."""
    c: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(fn=fn)
    return c


def group(sub: Any, name: str, help: str) -> Any:
    return sub.add_parser(name, help=help).add_subparsers(dest="action", required=True)


def _version() -> str:
    try:
        return metadata.version("cpo-platform")
    except metadata.PackageNotFoundError:
        return "unknown"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cpo",
        description="CPO platform: OCPP CSMS bridged to OCPI eMSPs. Commands other than serve,"
        " migrate and admin-token call the server's admin API (CPO_ADMIN_URL, default"
        " CPO_HOST:CPO_PORT; CPO_ADMIN_TOKEN).",
    )
    p.add_argument("--version", action="version", version=f"cpo {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    serve = command(sub, "serve", cmd_serve, "run the platform (Ctrl-C stops it)")
    serve.add_argument("--host", help="where to listen (CPO_HOST)")
    serve.add_argument("--port", type=_port, help="where to listen (CPO_PORT; 0: any free port)")
    command(
        sub, "migrate", cmd_migrate, "bring the database schema to this code's revision and exit"
    )
    command(
        sub,
        "admin-token",
        cmd_admin_token,
        "issue a new admin API token and print it: the one before stops working, also in a"
        " running server (only a hash is stored, so a token cannot be shown again)",
    )

    station = group(sub, "station", "chargers")
    add = command(station, "add", cmd_station_add, "register a charger")
    add.add_argument("id")
    add.add_argument(
        "--password", help="HTTP Basic password the charger will use (16-40 characters)"
    )
    add.add_argument(
        "--security-profile",
        type=int,
        choices=(1, 2, 3),
        help="the lowest OCPP security profile it may connect with (3: a client certificate)",
    )
    command(station, "list", cmd_station_list, "list chargers")
    command(station, "show", cmd_station_show, "a charger with its connectors").add_argument("id")
    model = command(
        station, "model", cmd_station_model, "a 2.0.1 charger's device model as it reported it"
    )
    model.add_argument("id")
    model.add_argument("--component", help="only this component (case-blind, %% wildcards)")
    model.add_argument("--variable", help="only this variable (case-blind, %% wildcards)")
    command(
        station, "remove", cmd_station_remove, "remove a charger that has no transactions"
    ).add_argument("id")

    provision = group(
        sub, "provision", "what chargers take before their boot is accepted (CPO_BOOT_PENDING)"
    )
    show = command(provision, "show", cmd_provision_show, "the keys, and a charger's answers")
    show.add_argument("--station", help="one charger: its whole set, boot state and answers")
    put = command(provision, "set", cmd_provision_set, "set a key (1.6 key or Component.Variable)")
    put.add_argument("key")
    put.add_argument("value")
    put.add_argument("--station", help="for this charger only (default: every charger)")
    drop = command(provision, "remove", cmd_provision_remove, "remove a key")
    drop.add_argument("key")
    drop.add_argument("--station", help="this charger's own key (default: every charger's)")

    firmware = group(sub, "firmware", "firmware update campaigns")
    start = command(firmware, "start", cmd_firmware_start, "update chargers to an image")
    start.add_argument("location", help="the image's URL")
    start.add_argument("stations", nargs="+", help="the chargers")
    start.add_argument("--attempts", type=int, help="most sends per charger (default 3)")
    command(firmware, "list", cmd_firmware_list, "campaigns and how far each got")
    command(firmware, "show", cmd_firmware_show, "a campaign, charger by charger").add_argument(
        "id", type=int
    )
    command(firmware, "cancel", cmd_firmware_cancel, "end a campaign early").add_argument(
        "id", type=int
    )

    token = group(sub, "token", "locally authorized id tokens")
    tadd = command(token, "add", cmd_token_add, "authorize an id token")
    tadd.add_argument("uid")
    tadd.add_argument("--type", default="RFID")
    tadd.add_argument("--status", default="Accepted", choices=["Accepted", "Blocked", "Expired"])
    command(token, "list", cmd_token_list, "list id tokens")
    tremove = command(token, "remove", cmd_token_remove, "remove an id token")
    tremove.add_argument("uid")
    tremove.add_argument("--type", default="RFID")

    run = command(
        sub,
        "command",
        cmd_command,
        "send a charger a command, e.g. `cpo command CP1 reset type=Immediate` or"
        " `cpo command CP1 remote_stop ocpp_transaction_id=42`",
    )
    run.add_argument("station")
    run.add_argument(
        "name", help="remote_start, remote_stop, unlock, reset, ... (see the API docs)"
    )
    run.add_argument(
        "arguments",
        nargs="*",
        metavar="ARG",
        help="key=value, key:=JSON (lists, objects, null), or one JSON object",
    )

    certificate = group(sub, "certificate", "chargers' certificates")
    clist = command(
        certificate, "list", cmd_certificate_list, "certificates issued to chargers, by expiry"
    )
    clist.add_argument("--expiring-within-days", type=int, help="only those expiring this soon")
    clist.add_argument("--station", help="one charger's")
    cinstalled = command(
        certificate, "installed", cmd_certificate_installed, "ask a charger what it holds"
    )
    cinstalled.add_argument("station")
    cinstalled.add_argument(
        "--type", action="append", choices=INSTALLED_TYPES, help="only this type (repeatable)"
    )
    cinstall = command(certificate, "install", cmd_certificate_install, "install a root (PEM)")
    cinstall.add_argument("station")
    cinstall.add_argument("type", choices=INSTALLED_TYPES[:4])
    cinstall.add_argument("file", help="the certificate, PEM")
    cdelete = command(
        certificate, "delete", cmd_certificate_delete, "delete a certificate from a charger"
    )
    cdelete.add_argument("station")
    cdelete.add_argument(
        "--hash-algorithm", default="SHA256", choices=["SHA256", "SHA384", "SHA512"]
    )
    for name in ("--issuer-name-hash", "--issuer-key-hash", "--serial-number"):
        cdelete.add_argument(name, required=True, help="as `cpo certificate installed` shows it")
    crenew = command(
        certificate, "renew", cmd_certificate_renew, "have a charger ask for a new certificate"
    )
    crenew.add_argument("station")
    crenew.add_argument(
        "--type",
        default="ChargingStationCertificate",
        choices=["ChargingStationCertificate", "V2GCertificate"],
    )

    party = group(sub, "party", "OCPI peers (eMSPs)")
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
        command(party, action, cmd_party_change, help).add_argument("id", type=_id)
    command(
        party, "clients", cmd_party_clients, "fetch a hub's client list; list the parties behind it"
    ).add_argument("id", type=_id)
    origins = command(
        party, "origins", cmd_party_origins, "set the origins a party may be called at"
    )
    origins.add_argument("id", type=_id)
    origins.add_argument(
        "origins",
        nargs="*",
        help="scheme://host[:port] besides its versions URL's (none: only that)",
    )
    for action, help in [
        ("approve", "let a party move to the origin it asked for"),
        ("reject", "keep a party where it is, forget the move it asked for"),
    ]:
        command(party, action, cmd_party_move, help).add_argument("id", type=_id)

    location = group(sub, "location", "OCPI Locations")
    command(
        location, "import", cmd_location_import, "create or update Locations from OCPI JSON"
    ).add_argument("file")
    command(location, "list", cmd_location_list, "list Locations with their EVSE statuses")
    command(location, "show", cmd_location_show, "one Location").add_argument("id")
    limit = command(
        location,
        "power-limit",
        cmd_location_power_limit,
        "show, set (WATTS) or lift (--remove) the Location's power limit, shared by the"
        " chargers charging there",
    )
    limit.add_argument("id")
    limit.add_argument("watts", nargs="?", type=int, help="the new limit in W")
    limit.add_argument("--remove", action="store_true", help="lift the limit")

    tariff = group(sub, "tariff", "OCPI Tariffs")
    command(
        tariff, "import", cmd_tariff_import, "create or update Tariffs from OCPI JSON"
    ).add_argument("file")
    command(tariff, "list", cmd_tariff_list, "list Tariffs")
    command(tariff, "remove", cmd_tariff_remove, "remove a Tariff (eMSPs are told)").add_argument(
        "id"
    )

    session = group(sub, "session", "OCPI Sessions: charges and their CDRs")
    slist = command(session, "list", cmd_session_list, "the newest sessions")
    slist.add_argument("--status", choices=["ACTIVE", "COMPLETED", "INVALID", "PENDING"])
    slist.add_argument("--limit", type=int, default=20, help="how many (1-1000; default 20)")
    command(session, "show", cmd_session_show, "one session with its CDRs").add_argument("id")

    cdr = group(sub, "cdr", "CDRs: what was billed")
    for name, fn, help in [
        ("list", cmd_cdr_list, "CDRs, newest first, with their totals"),
        ("summary", cmd_cdr_summary, "revenue and energy per day and in total"),
        ("export", cmd_cdr_export, "write the CDRs as CSV, one a line"),
    ]:
        c = command(cdr, name, fn, help)
        c.add_argument("--from", dest="start", help="ended on or after: YYYY-MM-DD or a date-time")
        c.add_argument(
            "--to", dest="end", help="ended before the end of: YYYY-MM-DD, or a date-time"
        )
        c.add_argument("--party", type=_id, help="one eMSP's (its id, as in `cpo party list`)")
        c.add_argument("--location", help="at one Location (its id)")
        if name == "list":
            c.add_argument("--limit", type=int, default=50, help="how many (1-1000; default 50)")
            c.add_argument("--offset", type=int, default=0, help="how many newest to skip")
        if name == "export":
            c.add_argument("file", help="where to write the CSV (-: standard output)")
    upload = group(sub, "upload", "files chargers uploaded (get_diagnostics, get_log)")
    ulist = command(upload, "list", cmd_upload_list, "the files a charger was asked for")
    ulist.add_argument("station")
    ulist.add_argument("--limit", type=int, default=20, help="how many (1-1000; default 20)")
    uget = command(upload, "get", cmd_upload_get, "write a file a charger uploaded")
    uget.add_argument("id", type=_upload_id)
    uget.add_argument("file", help="where to write it (-: standard output)")
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
    except AdminError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: whatever ran has stopped; no traceback
        return 130


if __name__ == "__main__":
    sys.exit(main())
