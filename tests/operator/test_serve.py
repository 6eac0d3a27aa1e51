"""`cpo serve` as an operator starts and stops it: one clear line when it cannot start, no
traceback on Ctrl-C, and an admin token that never reaches its output and is stored hashed."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import pty
import re
import select
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
import trustme

from cpo.schema import migrate
from tests.helpers.databases import database_url, fetch
from tests.helpers.platform import Platform
from tests.helpers.processes import BANNER, BIN, CpoServe, environment, free_port, run

# What secrets.token_urlsafe(32) makes: 43 characters of the URL-safe alphabet.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


async def _meta_values(directory: Path) -> list[str]:
    return [
        str(value) for (value,) in await fetch(database_url(directory), "SELECT value FROM meta")
    ]


def _database_bytes(directory: Path) -> bytes:
    """The database file and its write-ahead log, as they lie on disk."""
    return b"".join(path.read_bytes() for path in sorted(directory.glob("cpo.db*")))


async def serve_fails(tmp_path: Path, env: dict[str, str]) -> tuple[int, str, str]:
    return await run(
        str(BIN / "cpo"),
        "serve",
        env={"CPO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cpo.db'}"} | env,
        cwd=tmp_path,
    )


async def test_a_busy_port_is_one_line_before_any_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = await serve_fails(
            tmp_path, {"CPO_HOST": "127.0.0.1", "CPO_PORT": str(port)}
        )
    assert code != 0
    assert out == ""
    assert err.strip().splitlines() == [f"cpo: port {port} on 127.0.0.1 is in use (set CPO_PORT)"]


@pytest.mark.parametrize("missing", ["CPO_TLS_CERT", "CPO_TLS_KEY"])
async def test_a_missing_tls_file_is_one_line(tmp_path: Path, missing: str) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    files = {"CPO_TLS_CERT": tmp_path / "cert.pem", "CPO_TLS_KEY": tmp_path / "key.pem"}
    cert.cert_chain_pems[0].write_to_path(str(files["CPO_TLS_CERT"]))
    cert.private_key_pem.write_to_path(str(files["CPO_TLS_KEY"]))
    files[missing] = tmp_path / "nowhere" / f"{missing.lower()}.pem"
    env = {name: str(path) for name, path in files.items()}
    code, out, err = await serve_fails(tmp_path, env | {"CPO_PORT": str(free_port())})
    assert code != 0
    assert out == ""
    assert err.strip().splitlines() == [
        f"cpo: {missing}: cannot read {files[missing]} (No such file or directory)"
    ]


@pytest.mark.parametrize("when", ["listening", "starting"])
async def test_ctrl_c_ends_without_a_traceback(tmp_path: Path, when: str) -> None:
    # As `make run` runs it: with its push worker, which shares the terminal.
    async with CpoServe(tmp_path, {"CPO_ADMIN_TOKEN": "ctrl-c-test"}) as server:
        if when == "listening":
            await server.listening()
        else:
            await server.line("Started server process", stream="stderr")
        await server.interrupt()
        code = await server.wait()
    assert "Traceback" not in server.output, server.output
    assert code == 130  # the status of any command a Ctrl-C ended


async def test_the_admin_token_is_never_in_the_output_and_stored_only_hashed(
    tmp_path: Path,
) -> None:
    async with CpoServe(tmp_path, {"CPO_PUSH_WORKER": "false"}) as server:
        await server.listening()
        env = {"CPO_DATABASE_URL": server.env["CPO_DATABASE_URL"]}
        async with httpx.AsyncClient(base_url=f"{server.url}/admin/api") as admin:
            # No stored value is a token the server takes.
            for value in await _meta_values(tmp_path):
                bearer = {"Authorization": f"Bearer {value}"}
                assert (await admin.get("/stations", headers=bearer)).status_code == 401

            code, out, err = await run(str(BIN / "cpo"), "admin-token", env=env, cwd=tmp_path)
            assert code == 0, err
            first = out.strip()
            assert TOKEN_SHAPE.fullmatch(first)
            bearer = {"Authorization": f"Bearer {first}"}
            assert (await admin.get("/stations", headers=bearer)).status_code == 200

            code, out, err = await run(
                str(BIN / "cpo"), "admin-token", "--json", env=env, cwd=tmp_path
            )
            assert code == 0, err
            second = json.loads(out)["admin_token"]
            assert (await admin.get("/stations", headers=bearer)).status_code == 401
            bearer = {"Authorization": f"Bearer {second}"}
            assert (await admin.get("/stations", headers=bearer)).status_code == 200
        await server.interrupt()
        await server.wait()
    assert not TOKEN_SHAPE.search(server.output), server.output
    assert "cpo admin-token" in "".join(server.stdout)
    stored = await _meta_values(tmp_path)
    assert hashlib.sha256(second.encode()).hexdigest() in stored
    assert not any(first in value or second in value for value in stored)


async def test_cpo_admin_token_issues_nothing_when_the_environment_sets_it(
    tmp_path: Path,
) -> None:
    env = {
        "CPO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cpo.db'}",
        "CPO_ADMIN_TOKEN": "from-the-environment",
    }
    code, out, err = await run(str(BIN / "cpo"), "admin-token", env=env, cwd=tmp_path)
    assert code == 1 and out == ""
    assert "CPO_ADMIN_TOKEN is set" in err and "from-the-environment" not in err


def _read_terminal(fd: int, until: re.Pattern[str] | None, seconds: float) -> str:
    """What a terminal shows until `until` matches, or the program closes it (None: until
    then)."""
    shown = ""
    deadline = time.monotonic() + seconds
    while until is None or not until.search(shown):
        left = deadline - time.monotonic()
        assert left > 0, f"the terminal never showed {until.pattern!r}: {shown}"
        if select.select([fd], [], [], left)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the program closed the terminal
                break
            if not chunk:
                break
            shown += chunk.decode(errors="replace")
    return shown


async def _start_on_a_terminal(tmp_path: Path, port: int) -> str:
    """`cpo serve` on a terminal of its own until its banner is out, then Ctrl-C."""
    controller, terminal = pty.openpty()
    try:
        process = await asyncio.create_subprocess_exec(
            str(BIN / "cpo"),
            "serve",
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env=environment(
                {
                    "CPO_PORT": str(port),
                    "CPO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cpo.db'}",
                    "CPO_PUSH_WORKER": "false",
                }
            ),
            cwd=tmp_path,
            start_new_session=True,
        )
        os.close(terminal)
        try:
            shown = await asyncio.to_thread(
                _read_terminal, controller, re.compile(r"\n +admin token +[^\n]*\n[^\n]*\n"), 60
            )
            return shown
        finally:
            os.killpg(process.pid, signal.SIGINT)
            # Read on while it stops, so that it never waits on a full terminal.
            await asyncio.gather(
                asyncio.wait_for(process.wait(), 60),
                asyncio.to_thread(_read_terminal, controller, None, 60),
            )
    finally:
        os.close(controller)


async def test_a_new_admin_token_is_shown_once_on_the_terminal(tmp_path: Path) -> None:
    port = free_port()
    first = await _start_on_a_terminal(tmp_path, port)
    assert BANNER in first
    found = re.search(r"admin token +(\S+)", first)
    assert found and TOKEN_SHAPE.fullmatch(found[1]), first
    token = found[1]
    database = await asyncio.to_thread(_database_bytes, tmp_path)
    assert token.encode() not in database
    assert hashlib.sha256(token.encode()).hexdigest().encode() in database

    again = await _start_on_a_terminal(tmp_path, port)
    assert BANNER in again and token not in again
    assert not TOKEN_SHAPE.search(again), again
    assert "cpo admin-token" in again


async def test_a_clear_token_of_an_older_database_keeps_working_as_a_hash(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    await migrate(url, "0009")
    await fetch(url, "INSERT INTO meta (key, value) VALUES ('admin_token', 'generated-before')")
    platform = await Platform(tmp_path, admin_token=None).start()
    try:
        async with platform.admin("generated-before") as admin:
            assert (await admin.get("/stations")).status_code == 200
        async with platform.admin("something-else") as admin:
            assert (await admin.get("/stations")).status_code == 401
    finally:
        await platform.stop()
    stored = await _meta_values(tmp_path)
    assert "generated-before" not in stored
    assert hashlib.sha256(b"generated-before").hexdigest() in stored
