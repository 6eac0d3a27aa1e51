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

from cpo.tokens.tables import OcpiToken
from simulators.emsp import EmspSimulator, make_token
from tests.helpers.cluster import until
from tests.helpers.databases import free_port
from tests.helpers.ocpi import envelope, location, peer, spec_location
from tests.helpers.platform import Platform, online
from tests.helpers.processes import BIN, environment, run


def cpo(platform: Platform) -> Any:
    """Runs `cpo ARGS…` against the platform, as an operator on another machine would."""

    async def command(*args: str) -> tuple[int, str, str]:
        code, out, err = await run(str(BIN / "cpo"), *args, env=platform.cli_env())
        assert "Traceback" not in err, err
        return code, out, err

    return command


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


async def test_the_cli_administers_a_running_server_through_its_admin_api(
    platform: Platform, tmp_path: Path
) -> None:
    cli = cpo(platform)
    code, out, _ = await cli("--version")
    assert code == 0 and out.startswith("cpo ")

    # Stations and tokens: added, listed, shown, removed; a refusal is one line.
    code, out, err = await cli(
        "station", "add", "CLI-1", "--password", "cli-password-0001", "--json"
    )
    assert code == 0 and json.loads(out)["password_set"] is True, err
    code, _, err = await cli("station", "add", "CLI-1")
    assert code == 1 and "exists already" in one_line(err)
    code, _, err = await cli("station", "add", "bad:id")
    assert code == 1 and "id: String should match pattern" in one_line(err)
    assert (await cli("station", "add", "CLI-GONE"))[0] == 0
    code, out, _ = await cli("station", "remove", "CLI-GONE", "--json")
    assert code == 0 and json.loads(out) == {"id": "CLI-GONE", "removed": True}
    code, _, err = await cli("station", "show", "CLI-GONE")
    assert code == 1 and "no station CLI-GONE" in one_line(err)
    code, out, _ = await cli("station", "list", "--json")
    assert [s["id"] for s in json.loads(out)] == ["CLI-1"]
    code, out, _ = await cli("token", "add", "cafe01", "--json")
    assert code == 0 and json.loads(out)["uid"] == "CAFE01"
    assert (await cli("token", "add", "SPARE", "--type", "OTHER"))[0] == 0
    code, out, _ = await cli("token", "remove", "SPARE", "--type", "OTHER")
    assert code == 0 and "token SPARE (OTHER) removed" in out
    code, out, _ = await cli("token", "list", "--json")
    assert [t["uid"] for t in json.loads(out)] == ["CAFE01"]

    # Tariffs and Locations from files.
    (tmp_path / "tariffs.json").write_text(json.dumps(tariffs("CLI-T", "SPARE-T")))
    code, out, err = await cli("tariff", "import", str(tmp_path / "tariffs.json"))
    assert code == 0 and "tariff CLI-T: created" in out, err
    assert (await cli("tariff", "remove", "SPARE-T"))[0] == 0
    code, out, _ = await cli("tariff", "list", "--json")
    assert [t["id"] for t in json.loads(out)] == ["CLI-T"]
    site = location("CLI-L", [("CLI-L-1", "CLI-1", 1), ("CLI-L-2", "CLI-2", 1)])
    for evse in site["evses"]:
        evse["connectors"][0]["tariff_ids"] = ["CLI-T"]
    (tmp_path / "site.json").write_text(json.dumps(site))
    code, out, err = await cli("location", "import", str(tmp_path / "site.json"), "--json")
    assert code == 0 and json.loads(out)[0]["created"] is True, err
    code, out, _ = await cli("location", "list")
    assert code == 0 and out.startswith("CLI-L ")
    code, out, _ = await cli("location", "show", "cli-l", "--json")
    assert code == 0 and [e["uid"] for e in json.loads(out)["evses"]] == ["CLI-L-1", "CLI-L-2"]

    # A charge on the simulator (another process), then its session and CDR.
    code, out, err = await run(
        str(BIN / "cpo-sim"),
        "charger",
        "--id",
        "CLI-1",
        "--password",
        "cli-password-0001",
        "--url",
        platform.ws_url,
        "--session",
        "--id-tag",
        "CAFE01",
        "--updates",
        "2",
        "--interval",
        "900",
        "--json",
    )
    assert code == 0 and json.loads(out)["energy_wh"] > 0, err

    async def cdr_made() -> Any:
        async with platform.admin() as admin:
            return (await admin.get("/cdrs")).json()["cdrs"]

    (cdr,) = await until(cdr_made, what="the CDR of the charge")
    code, out, _ = await cli("session", "list", "--json")
    (session,) = json.loads(out)
    assert session["id"] == cdr["session_id"] and session["status"] == "COMPLETED"
    code, out, _ = await cli("session", "show", session["id"])
    assert code == 0 and f"CDR {cdr['id']}" in out and "COMPLETED" in out
    code, out, _ = await cli("cdr", "list", "--json", "--location", "CLI-L")
    assert json.loads(out)["cdrs"] == [cdr]
    code, out, _ = await cli("cdr", "list", "--from", cdr["end_date_time"][:10])
    assert code == 0 and cdr["id"] in out and "1 CDRs" in out and "EUR" in out
    code, out, _ = await cli("cdr", "summary", "--json")
    assert json.loads(out)["revenue"][0]["excl_vat"] == cdr["cost_excl_vat"]
    code, out, err = await cli("cdr", "export", str(tmp_path / "cdrs.csv"), "--json")
    assert code == 0 and json.loads(out)["bytes"] > 0, err
    header, line = (tmp_path / "cdrs.csv").read_text().splitlines()
    assert header.startswith("id,session_id,") and line.startswith(cdr["id"] + ",")
    code, _, err = await cli("cdr", "export", str(tmp_path / "none.csv"), "--to", "2000-13-01")
    assert code == 1 and "to: " in one_line(err) and not (tmp_path / "none.csv").exists()

    # Commands: key=value arguments; remote_stop by the charger's own transaction id.
    charger = await online(platform, "CLI-2", "2.0.1")
    events = platform.events()
    started = await charger.start_transaction(1, "CAFE01")
    code, out, err = await cli(
        "command", "CLI-2", "remote_stop", f"ocpp_transaction_id={started.transaction_id}", "--json"
    )
    assert code == 0 and json.loads(out)["status"] == "Accepted", err
    ended = await events.wait("TransactionEnded", lambda e: e.station_id == "CLI-2")
    assert ended.data["stop_reason"] == "Remote"
    code, out, err = await cli(
        "command", "CLI-2", "change_availability", "evse_id=2", "operative=false"
    )
    assert code == 0 and out.startswith("change_availability on CLI-2: Accepted"), err
    code, out, err = await cli(
        "command", "CLI-2", "get_configuration", 'keys:=["OCPPCommCtrlr.HeartbeatInterval"]'
    )
    assert code == 0 and "HeartbeatInterval" in out, err
    code, _, err = await cli("command", "CLI-2", "unlock", "evse_id")
    assert code == 1 and "key=value" in one_line(err)
    code, _, err = await cli("command", "CLI-2", "self_destruct")
    assert code == 1 and "unknown command self_destruct" in one_line(err)
    await charger.close()


async def test_a_server_that_cannot_be_reached_or_refuses_is_one_error_line(
    platform: Platform,
) -> None:
    async def station_list(env: dict[str, str]) -> str:
        code, out, err = await run(str(BIN / "cpo"), "station", "list", env=env)
        assert code != 0 and out == "" and "Traceback" not in err, err
        return err.strip()

    down, wrong, missing, bad_url, zero = await asyncio.gather(
        station_list({"CPO_ADMIN_URL": f"http://127.0.0.1:{free_port()}", "CPO_ADMIN_TOKEN": "x"}),
        station_list(platform.cli_env(token="not-the-token")),
        station_list({"CPO_ADMIN_URL": platform.url}),
        station_list({"CPO_ADMIN_URL": "ftp://example.org", "CPO_ADMIN_TOKEN": "x"}),
        station_list({"CPO_PORT": "0", "CPO_ADMIN_TOKEN": "x"}),
    )
    assert "cannot reach the server at http://127.0.0.1:" in one_line(down)
    assert "refused the admin token (401)" in one_line(wrong) and "cpo admin-token" in wrong
    assert one_line(missing).startswith("error: no admin token: set CPO_ADMIN_TOKEN")
    assert bad_url.splitlines() == ["cpo: CPO_ADMIN_URL: String should match pattern '^https?://'"]
    assert "set CPO_ADMIN_URL" in one_line(zero)


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
    # The server builds the invitation: its URL is the one it serves under.
    code, out, err = await run(
        str(BIN / "cpo"), "party", "invite", "--json", env=platform.cli_env()
    )
    assert code == 0, err
    invitation = json.loads(out)
    assert invitation["versions_url"] == f"{platform.url}/ocpi/versions"
    async with peer(platform, invitation["token"]) as emsp:
        versions = envelope(await emsp.get(invitation["versions_url"]), 200, 1000)
    assert [v["url"] for v in versions] == [
        f"{platform.url}/ocpi/{v}/details" for v in ("2.3.0", "2.2.1", "2.1.1")
    ]


async def test_invite_never_hands_out_the_wildcard_address(tmp_path: Path) -> None:
    platform = await Platform(tmp_path, host="0.0.0.0").start()
    try:
        env = platform.cli_env()
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


async def test_register_from_the_cli_pulls_the_tokens_before_it_returns(
    platform: Platform,
) -> None:
    offered = [
        make_token("REG-CARD-0001", party_id="REG"),
        make_token("REG-APP-0001", party_id="REG", type="APP_USER", whitelist="NEVER"),
    ]
    env = platform.cli_env()
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
    async with platform.state.ocpi_side.database() as session:
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
    env = platform.cli_env()
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


async def test_bundled_simulators_share_no_token_uid_by_default(
    platform: Platform, tmp_path: Path
) -> None:
    # As the README runs them: two eMSP simulators (EMS and EMT) registered with the platform,
    # and the charger simulator's --session with its default --id-tag.
    emsps = []
    try:
        for party_id in ("EMS", "EMT"):
            async with platform.admin() as admin:
                invitation = (await admin.post("/parties/invitations", json={})).json()
            log = tmp_path / f"{party_id}.log"
            with log.open("wb") as stderr:
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
                    stderr=stderr,
                    env=environment({"PYTHONUNBUFFERED": "1"}),
                )
            emsps.append(process)
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 60)
            if not line:  # it ended: say why
                raise AssertionError(log.read_text())
            assert json.loads(line)["registered"]
            async with platform.admin() as admin:
                pulled = await admin.post(
                    f"/parties/{invitation['party_id']}/tokens/pull?full=true"
                )
                assert pulled.status_code == 200 and pulled.json()["stored"] == 2, pulled.text
    finally:
        for process in emsps:
            if process.returncode is None:  # one that ended already has said why above
                process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.wait(), 30)

    async with platform.state.ocpi_side.database() as session:
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
