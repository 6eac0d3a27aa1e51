"""`cpo user add|list|remove`: the console's accounts, written to the database directly (the
first user is made before anyone can log in to do it otherwise)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cpo.console.roles import NAME_MAX, PASSWORD_MAX, PASSWORD_MIN, Role

if TYPE_CHECKING:
    from cpo.settings import Settings


def _on_database(settings: Settings, work: Callable[[Any], Any]) -> Any:
    """Runs `work(sessions)` on the migrated database. The platform is loaded only now: the
    `cpo` command builds its parser from this module first, for every command."""
    from cpo.schema import migrate
    from csms.db import make_database, make_engine
    from csms.passwords import configure_hashing

    configure_hashing(settings.password_hash_memory_kib, settings.password_hash_time_cost)

    async def main() -> Any:
        await migrate(settings.database_url)
        engine = make_engine(settings.database_url)
        try:
            return await work(make_database(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _out(args: argparse.Namespace, data: Any, human: str) -> None:
    print(json.dumps(data, indent=2) if args.json else human)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    from cpo.console import accounts
    from cpo.console.accounts import BadAccount
    from cpo.operator_input import Conflict

    password = args.password
    if password is None:
        if not sys.stdin.isatty():
            return _fail("give the password with --password (no terminal to ask it on)")
        password = getpass.getpass(f"password for {args.name}: ")
    try:
        # Judged before the database is opened: a typo costs no migration.
        accounts.check_name(args.name)
        accounts.check_password(password)
        user = _on_database(
            settings, lambda database: accounts.add_user(database, args.name, password, args.role)
        )
    except (BadAccount, Conflict) as e:
        return _fail(str(e))
    _out(
        args,
        accounts.user_view(user),
        f"user {user.name} ({user.role}) added: log in at {settings.base_url}/console/",
    )
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from cpo.console import accounts

    rows = [accounts.user_view(u) for u in _on_database(settings, accounts.users)]
    human = "\n".join(f"{u['name']:<24} {u['role']:<9} since {u['created_at']}" for u in rows)
    _out(args, rows, human or "no users: add one with cpo user add NAME --role admin")
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    from cpo.console import accounts
    from cpo.operator_input import NotFound

    try:
        ended = _on_database(settings, lambda database: accounts.remove_user(database, args.name))
    except NotFound as e:
        return _fail(str(e))
    name = accounts.normalise_name(args.name)
    _out(
        args,
        {"name": name, "removed": True, "logins_ended": ended},
        f"user {name} removed"
        + (f" ({ended} login{'s' if ended != 1 else ''} ended)" if ended else ""),
    )
    return 0


def add_user_commands(sub: Any) -> None:
    """Adds `user add|list|remove` to the `cpo` command's subcommands (`sub`); each command
    is called as fn(args, settings) like the others."""
    user = sub.add_parser("user", help="console accounts").add_subparsers(
        dest="action", required=True
    )

    def command(name: str, fn: Callable[..., int], help: str) -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = user.add_parser(name, help=help)
        c.add_argument("--json", action="store_true", help="machine-readable output")
        c.set_defaults(fn=fn)
        return c

    add = command("add", cmd_add, "add a console account")
    add.add_argument("name", help=f"letters, digits and . _ @ - ({NAME_MAX} at most)")
    add.add_argument(
        "--password",
        help=f"{PASSWORD_MIN} to {PASSWORD_MAX} characters (asked for when left out)",
    )
    add.add_argument(
        "--role",
        required=True,
        choices=[r.value for r in Role],
        help="admin: everything; operator: sends commands; viewer: sees everything, acts on nothing",
    )
    command("list", cmd_list, "list console accounts")
    command("remove", cmd_remove, "remove a console account and end its logins").add_argument(
        "name"
    )
