"""The operator's command line and the simulator's, as a user runs them, against the real platform."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.platform import Platform

BIN = Path(sys.executable).parent


async def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=os.environ | (env or {}),
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_station_and_token_added_by_cli_serve_a_simulated_session(platform: Platform) -> None:
    env = {"CPO_DATABASE_URL": platform.settings.database_url, "CPO_ADMIN_TOKEN": "unused"}
    code, out, err = await run(
        str(BIN / "cpo"),
        "station",
        "add",
        "CLI-1",
        "--password",
        "cli-password-0001",
        "--json",
        env=env,
    )
    assert code == 0, err
    assert json.loads(out)["password_set"] is True
    code, _, err = await run(str(BIN / "cpo"), "station", "add", "CLI-1", env=env)
    assert code == 1 and "exists already" in err
    code, _, err = await run(str(BIN / "cpo"), "station", "add", "bad:id", env=env)
    assert code != 0 and "id" in err
    code, out, _ = await run(str(BIN / "cpo"), "token", "add", "cafe01", "--json", env=env)
    assert code == 0 and json.loads(out)["uid"] == "CAFE01"

    for version in ("1.6", "2.0.1"):
        code, out, err = await run(
            str(BIN / "cpo-sim"),
            "charger",
            "--id",
            "CLI-1",
            "--password",
            "cli-password-0001",
            "--ocpp",
            version,
            "--url",
            platform.ws_url,
            "--session",
            "--id-tag",
            "CAFE01",
            "--updates",
            "2",
            "--interval",
            "60",
            "--json",
        )
        assert code == 0, err
        summary = json.loads(out)
        assert summary["energy_wh"] > 0

    async with platform.admin() as admin:
        txs = (await admin.get("/stations/CLI-1/transactions")).json()
    assert len(txs) == 2 and all(
        t["status"] == "ended" and t["auth_status"] == "Accepted" for t in txs
    )
    assert {t["id_token"] for t in txs} == {"CAFE01"}


async def test_simulator_reports_a_refusal_in_one_line(platform: Platform) -> None:
    code, out, err = await run(
        str(BIN / "cpo-sim"),
        "charger",
        "--id",
        "NOT-REGISTERED",
        "--url",
        platform.ws_url,
        "--session",
        "--id-tag",
        "X",
    )
    assert code == 1
    assert "404" in (out + err) and len((out + err).strip().splitlines()) == 1
