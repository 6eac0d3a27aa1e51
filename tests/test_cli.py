"""The operator's command line and the simulator's, as a user runs them, against the real platform."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import select

from cpo.models import OcpiToken
from simulators.emsp import EmspSimulator, make_token
from tests.databases import database_url
from tests.ocpi import envelope, peer, spec_location
from tests.platform import Platform
from tests.processes import BIN, environment, run


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


# What the operator hands out and fetches: the server's real address, the eMSP's tokens


async def test_invite_names_the_port_the_server_is_on(platform: Platform) -> None:
    # The shell has no CPO_PORT: the server, on a port of its own, told the database.
    env = {"CPO_DATABASE_URL": platform.settings.database_url}
    code, out, err = await run(str(BIN / "cpo"), "party", "invite", "--json", env=env)
    assert code == 0, err
    invitation = json.loads(out)
    assert invitation["versions_url"] == f"{platform.url}/ocpi/versions"
    async with peer(platform, invitation["token"]) as emsp:
        versions = envelope(await emsp.get(invitation["versions_url"]), 200, 1000)
    assert [v["url"] for v in versions] == [f"{platform.url}/ocpi/2.2.1/details"]


async def test_invite_never_hands_out_the_wildcard_address(tmp_path: Path) -> None:
    platform = await Platform(tmp_path, host="0.0.0.0").start()
    try:
        env = {"CPO_DATABASE_URL": platform.settings.database_url, "CPO_HOST": "0.0.0.0"}
        code, out, err = await run(str(BIN / "cpo"), "party", "invite", "--json", env=env)
        assert code == 0, err
        invitation = json.loads(out)
        url = urlsplit(invitation["versions_url"])
        assert (url.hostname, url.port) == (socket.gethostname().lower(), platform.port)
        assert "CPO_PUBLIC_URL" in err
        async with peer(platform, invitation["token"]) as emsp:
            versions = envelope(await emsp.get("/ocpi/versions"), 200, 1000)
        assert "0.0.0.0" not in json.dumps(versions)
    finally:
        await platform.stop()


async def test_invite_before_any_server_start_says_where_its_url_comes_from(
    tmp_path: Path,
) -> None:
    env = {"CPO_DATABASE_URL": database_url(tmp_path), "CPO_PORT": "8123"}
    code, out, err = await run(str(BIN / "cpo"), "party", "invite", "--json", env=env)
    assert code == 0, err
    assert json.loads(out)["versions_url"] == "http://127.0.0.1:8123/ocpi/versions"
    assert "no server has started on this database yet" in err


async def test_register_from_the_cli_pulls_the_tokens_before_it_returns(
    platform: Platform,
) -> None:
    offered = [
        make_token("REG-CARD-0001", party_id="REG"),
        make_token("REG-APP-0001", party_id="REG", type="APP_USER", whitelist="NEVER"),
    ]
    env = {"CPO_DATABASE_URL": platform.settings.database_url, "CPO_PORT": str(platform.port)}
    async with EmspSimulator(party_id="REG", tokens=offered) as emsp:
        code, out, err = await run(
            str(BIN / "cpo"),
            "party",
            "register",
            emsp.versions_url,
            emsp.invite(),
            "--json",
            env=env,
        )
        assert code == 0, err
        view = json.loads(out)
        assert view["state"] == "REGISTERED" and view["tokens"] == 2
    # The command has returned: what it fetched is in the platform's database.
    async with platform.state.roaming.sites.sessions() as session:
        rows = (
            await session.execute(select(OcpiToken).where(OcpiToken.owner_id == view["id"]))
        ).scalars()
        assert sorted((t.uid, t.type, t.valid) for t in rows) == [
            ("REG-APP-0001", "APP_USER", True),
            ("REG-CARD-0001", "RFID", True),
        ]


# A Location file as an eMSP receives it (the OCPI 2.2.1 spec's example), bound to chargers


def emsp_location() -> dict[str, Any]:
    """The spec's Location example as it reaches an eMSP, each EVSE with its live `status`,
    and the two fields that bind an EVSE to its charger."""
    location = spec_location()
    for number, evse in enumerate(location["evses"], start=1):
        evse |= {"station_id": "CP-GENT", "ocpp_evse_id": number}
    return location


def tariffs(*ids: str) -> list[dict[str, Any]]:
    return [
        {
            "id": tariff_id,
            "currency": "EUR",
            "elements": [{"price_components": [{"type": "ENERGY", "price": 0.25, "step_size": 1}]}],
        }
        for tariff_id in ids
    ]


async def test_location_import_takes_a_location_as_an_emsp_receives_it(
    platform: Platform, tmp_path: Path
) -> None:
    env = {"CPO_DATABASE_URL": platform.settings.database_url}
    (tmp_path / "tariffs.json").write_text(json.dumps(tariffs("11", "12", "13")))
    code, _, err = await run(
        str(BIN / "cpo"), "tariff", "import", str(tmp_path / "tariffs.json"), env=env
    )
    assert code == 0, err
    (tmp_path / "location.json").write_text(json.dumps(emsp_location()))
    code, out, err = await run(
        str(BIN / "cpo"), "location", "import", str(tmp_path / "location.json"), env=env
    )
    assert code == 0, err
    assert "location LOC1: created" in out
    assert "2 EVSE statuses ignored: the charger reports them" in out and "3256, 3257" in out
    async with platform.admin() as admin:
        shown = (await admin.get("/locations/LOC1")).json()
        # The charger CP-GENT never reported: not AVAILABLE, not RESERVED, as the file said.
        assert [(e["uid"], e["status"]) for e in shown["evses"]] == [
            ("3256", "UNKNOWN"),
            ("3257", "UNKNOWN"),
        ]

        # The same through the admin API, announcing one EVSE as PLANNED: that one is taken.
        location = emsp_location()
        location["evses"][1]["status"] = "PLANNED"
        response = await admin.post("/locations", json=location)
        assert response.status_code == 200, response.text
        assert response.json() == [
            {"id": "LOC1", "created": False, "changed": True, "status_ignored": ["3256"]}
        ]
        shown = (await admin.get("/locations/LOC1")).json()
        assert [(e["uid"], e["status"]) for e in shown["evses"]] == [
            ("3256", "UNKNOWN"),
            ("3257", "PLANNED"),
        ]


# The bundled simulators' defaults: no token uid in common


async def test_bundled_simulators_share_no_token_uid_by_default(platform: Platform) -> None:
    # As the README runs them: two eMSP simulators (EMS and EMT) registered with the platform,
    # and the charger simulator's --session with its default --id-tag.
    emsps = []
    try:
        for party_id in ("EMS", "EMT"):
            async with platform.admin() as admin:
                invitation = (await admin.post("/parties/invitations", json={})).json()
            process = await asyncio.create_subprocess_exec(
                str(BIN / "cpo-sim"),
                "emsp",
                "--port",
                "0",
                "--party-id",
                party_id,
                "--register",
                invitation["versions_url"],
                invitation["token"],
                "--json",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env=environment({"PYTHONUNBUFFERED": "1"}),
            )
            emsps.append(process)
            assert process.stdout is not None
            assert json.loads(await asyncio.wait_for(process.stdout.readline(), 60))["registered"]
            async with platform.admin() as admin:
                pulled = await admin.post(
                    f"/parties/{invitation['party_id']}/tokens/pull?full=true"
                )
                assert pulled.status_code == 200 and pulled.json()["stored"] == 2, pulled.text
    finally:
        for process in emsps:
            process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.wait(), 30)

    async with platform.state.roaming.sites.sessions() as session:
        tokens = list((await session.execute(select(OcpiToken))).scalars())
    owners: dict[str, set[int]] = {}
    for token in tokens:
        owners.setdefault(token.uid_key, set()).add(token.owner_id)
    assert len(tokens) == 4 and all(len(o) == 1 for o in owners.values()), owners

    # The charger's own default tag is none of them: refused, not charged to an eMSP.
    await platform.add_station("SIM-DEFAULTS")
    code, out, err = await run(
        str(BIN / "cpo-sim"),
        "charger",
        "--id",
        "SIM-DEFAULTS",
        "--url",
        platform.ws_url,
        "--session",
    )
    assert code == 1 and "not accepted (Invalid)" in err, out + err
