"""`cpo user add|list|remove` as an operator runs them, on the database of a running platform:
the account made works in the console at once, one removed ends its logins."""

from __future__ import annotations

import asyncio
import json

import pytest

from cpo.console import accounts
from cpo.console.accounts import BadAccount
from cpo.operator_input import NotFound
from tests.helpers.browser import client, log_in, logged_in
from tests.helpers.platform import Platform
from tests.helpers.processes import BIN, run

PASSWORD = "a long enough password"


async def test_user_commands_make_accounts_that_log_in_and_remove_them(
    platform: Platform,
) -> None:
    env = {"CPO_DATABASE_URL": platform.settings.database_url}

    async def cpo(*args: str) -> tuple[int, str, str]:
        return await run(str(BIN / "cpo"), "user", *args, env=env)

    code, out, err = await cpo(
        "add", "Alice", "--password", PASSWORD, "--role", "operator", "--json"
    )
    assert code == 0, err
    added = json.loads(out)
    assert (added["name"], added["role"]) == ("alice", "operator")
    assert "password_hash" not in added

    # Bad input is one line, nothing written (side by side: each is a process, a second or
    # two; every class of bad name and password is in test_accounts_refuse_what_no_account_has).
    results = await asyncio.gather(
        cpo("add", "alice", "--password", PASSWORD, "--role", "admin"),
        cpo("add", "mallory", "--password", PASSWORD, "--role", "root"),
    )
    expected = [
        (1, "error: user alice exists already"),
        (2, "argument --role: invalid choice: 'root'"),
    ]
    for (code, _, err), (want_code, want) in zip(results, expected, strict=True):
        assert code == want_code and want in err, (want, err)
        assert "Traceback" not in err

    code, out, err = await cpo("list", "--json")
    assert code == 0, err
    assert [(u["name"], u["role"]) for u in json.loads(out)] == [("alice", "operator")]

    async with client(platform) as http:
        await logged_in(http, "alice", PASSWORD)
        code, out, err = await cpo("remove", "ALICE")
        assert code == 0, err
        assert out.strip() == "user alice removed (1 login ended)"
        assert (await http.get("/console/stations")).status_code == 303
        assert (await log_in(http, "alice", PASSWORD)).status_code == 401


async def test_accounts_refuse_what_no_account_has(platform: Platform) -> None:
    database = platform.state.console.database
    cases = [
        ("", PASSWORD, "viewer", "the user name is empty"),
        ("   ", PASSWORD, "viewer", "the user name is empty"),
        ("m" * 65, PASSWORD, "viewer", "longer than 64 characters"),
        ("-dash-first", PASSWORD, "viewer", "starting with a letter or digit"),
        ("na me", PASSWORD, "viewer", "letters, digits"),
        ("nul\x00", PASSWORD, "viewer", "letters, digits"),
        ("zoë", PASSWORD, "viewer", "letters, digits"),
        ("mallory", "short", "viewer", "shorter than 8 characters"),
        ("mallory", "p" * 1025, "viewer", "longer than 1024 characters"),
        ("mallory", PASSWORD, "root", "no role 'root'"),
    ]
    for name, password, role, message in cases:
        with pytest.raises(BadAccount, match=message):
            await accounts.add_user(database, name, password, role)
    assert await accounts.users(database) == []
    with pytest.raises(NotFound):
        await accounts.remove_user(database, "mallory")
