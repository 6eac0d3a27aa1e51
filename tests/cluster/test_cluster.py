"""Several `cpo serve` nodes on one PostgreSQL and one Redis (ADR 018): commands through any
node reach the charger on another, a charger moves between nodes and stays online, a dead
node's chargers go offline within seconds, and SIGTERM hands a node's chargers over."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select
from websockets.exceptions import InvalidStatus

from cpo.commands.remote import RemoteCommands
from cpo.commands.tables import OcpiCommand
from cpo.push.outbox import Outbox
from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator, make_token
from tests.helpers.cluster import PASSWORD, charger, cluster, until
from tests.helpers.ocpi import location, push, register_with
from tests.helpers.platform import post


async def result_of(emsp: EmspSimulator) -> dict[str, Any]:
    """The CommandResult of the command the eMSP sent last."""
    command_id = list(emsp.sent_commands)[-1]
    found = await emsp.wait_for(
        lambda r: r.module == "commands" and r.method == "POST" and r.path.endswith(command_id),
        timeout=20,
    )
    return found.body  # type: ignore[no-any-return]


async def test_an_admin_command_through_one_node_reaches_a_charger_on_another(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as nodes:
        a, b = await nodes.node("node-a"), await nodes.node("node-b")
        await a.add_station("CP-ON-B")
        async with charger(b, "CP-ON-B") as cp:
            status, result = await a.command("CP-ON-B", "unlock", {"evse_id": 1})
            assert (status, result["status"]) == (200, "Unlocked"), result
            assert ("UnlockConnector", {"connectorId": 1}) in cp.received_calls

            # The grant of a remote start through A holds on B, where the charger asks.
            status, result = await a.command(
                "CP-ON-B", "remote_start", {"id_token": "NOT-A-KNOWN-TAG", "evse_id": 1}
            )
            assert (status, result["status"]) == (200, "Accepted"), result
            await cp.wait_idle()
            rows = await until(
                lambda: nodes.sql("SELECT id_token, auth_status, id FROM transactions")
            )
            assert rows[0][:2] == ("NOT-A-KNOWN-TAG", "Accepted")
            status, result = await a.command(
                "CP-ON-B", "remote_stop", {"transaction_id": rows[0][2]}
            )
            assert (status, result["status"]) == (200, "Accepted"), result

        await a.add_station("CP-NOWHERE")
        status, result = await a.command("CP-NOWHERE", "unlock", {"evse_id": 1})
        assert (status, result["outcome"]) == (409, "offline")


async def test_an_ocpi_start_and_stop_session_through_one_node_for_a_charger_on_another(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as nodes, EmspSimulator(party_id="EMS") as emsp:
        a, b = await nodes.node("node-a"), await nodes.node("node-b")
        await register_with(a, emsp)  # type: ignore[arg-type]
        body = location("CL-1", [("CL-1-E1", "CP-OCPI", 1)])
        body["evses"][0]["capabilities"] = ["REMOTE_START_STOP_CAPABLE", "RFID_READER"]
        await post(a, "/locations", body)  # type: ignore[arg-type]
        await a.add_station("CP-OCPI")
        async with charger(b, "CP-OCPI") as cp:
            start = {
                "token": make_token("APP-0001", type="APP_USER", whitelist="NEVER"),
                "location_id": "CL-1",
                "evse_uid": "CL-1-E1",
                "authorization_reference": "REF-CLUSTER",
            }
            status, answer = await emsp.send_command("START_SESSION", start)
            assert status == 200 and answer["data"]["result"] == "ACCEPTED", answer
            assert (await result_of(emsp))["result"] == "ACCEPTED"

            put = await emsp.wait_for(
                lambda r: r.module == "sessions" and r.method == "PUT", timeout=20
            )
            # The transaction on B was linked to the command A accepted (via the database).
            assert put.body["authorization_reference"] == "REF-CLUSTER"
            assert put.body["auth_method"] == "COMMAND"
            await cp.send_meter_values(1, 600)

            status, answer = await emsp.send_command("STOP_SESSION", {"session_id": put.body["id"]})
            assert answer["data"]["result"] == "ACCEPTED", answer
            assert (await result_of(emsp))["result"] == "ACCEPTED"
            cdr = await emsp.wait_for(
                lambda r: r.module == "cdrs" and r.method == "POST", timeout=20
            )
            assert cdr.body["session_id"] == put.body["id"]


async def test_a_charger_that_moves_to_another_node_stays_online_and_commandable(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as nodes:
        a, b = await nodes.node("node-a"), await nodes.node("node-b")
        await a.add_station("CP-MOVER")
        old = ChargePointSimulator(id="CP-MOVER", url=a.ws_url, password=PASSWORD)
        await old.connect()
        assert await old.boot() == "Accepted"
        # Its link to A is half-open, as far as it knows; it reconnects through B.
        async with charger(b, "CP-MOVER") as new:
            # A closes the old socket when told of the newer connection on B.
            assert await old.wait_closed(10) == 1000
            status, result = await a.command(
                "CP-MOVER", "trigger_message", {"message": "Heartbeat"}
            )
            assert (status, result["status"]) == (200, "Accepted"), result
            assert any(action == "TriggerMessage" for action, _ in new.received_calls)
            station = await a.station("CP-MOVER")
            assert station["online"] is True
            # The old socket's close on A marked nothing offline.
            assert await nodes.events("CP-MOVER", "StationDisconnected") == 0
        await old.close()


async def test_the_chargers_of_a_killed_node_go_offline_within_seconds(tmp_path: Path) -> None:
    async with cluster(tmp_path) as nodes:
        a, b = await nodes.node("node-a"), await nodes.node("node-b")
        await a.add_station("CP-ORPHAN")
        async with charger(b, "CP-ORPHAN"):
            assert (await a.station("CP-ORPHAN"))["online"] is True
            await b.kill()

            async def offline() -> bool:
                return (await a.station("CP-ORPHAN"))["online"] is False

            await until(offline, timeout=10, what="the station offline")
        assert await nodes.events("CP-ORPHAN", "StationDisconnected") == 1
        status, result = await a.command("CP-ORPHAN", "unlock", {"evse_id": 1})
        assert (status, result["outcome"]) == (409, "offline")


async def test_a_command_whose_node_does_not_answer_gets_a_clear_outcome(tmp_path: Path) -> None:
    # A lease longer than the test: the stopped node still counts as live.
    async with cluster(tmp_path, CPO_NODE_LEASE_SECONDS="60") as nodes:
        a, b = await nodes.node("node-a"), await nodes.node("node-b")
        await a.add_station("CP-STUCK")
        async with charger(b, "CP-STUCK"):
            b.signal(signal.SIGSTOP)
            status, result = await a.command("CP-STUCK", "unlock", {"evse_id": 1})
            assert (status, result["outcome"]) == (504, "timeout")
            assert "node node-b did not answer" in result["error_description"]

            await b.kill()
            status, result = await a.command("CP-STUCK", "unlock", {"evse_id": 1})
            assert (status, result["outcome"]) == (409, "offline")
            assert "node-b" in result["error_description"]
            assert "gone" in result["error_description"]


async def test_sigterm_drains_a_node_and_its_chargers_move_to_another_still_online(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path, CPO_RECONNECT_GRACE_SECONDS="20", CPO_DRAIN_SECONDS="1") as nodes:
        a, b = await nodes.node("node-a"), await nodes.node("node-b")
        assert (await a.health()).status_code == 200
        await a.add_station("CP-DRAINED")
        async with charger(a, "CP-DRAINED") as cp:
            cp.reconnect = True
            cp.url = b.ws_url  # where the load balancer sends it next
            closed = asyncio.ensure_future(cp.wait_closed(20))
            a.signal(signal.SIGTERM)

            async def draining() -> bool:
                response = await a.health()
                return response.status_code == 503 and response.json() == {"status": "draining"}

            await until(draining, timeout=5)
            with pytest.raises(InvalidStatus) as refused:
                other = ChargePointSimulator(id="CP-OTHER", url=a.ws_url, password=PASSWORD)
                await other.connect()
            assert refused.value.response.status_code == 503

            assert await closed == 1001

            async def on_b() -> bool:
                return bool((await b.station("CP-DRAINED")).get("connected"))

            await until(on_b, timeout=10)
            # uvicorn ends by raising the signal it caught again, once it has shut down.
            assert await a.process.wait(20) == -signal.SIGTERM
            assert "drained" in a.process.output
            status, result = await b.command("CP-DRAINED", "unlock", {"evse_id": 1})
            assert (status, result["status"]) == (200, "Unlocked"), result
            assert (await b.station("CP-DRAINED"))["online"] is True
            assert await nodes.events("CP-DRAINED", "StationDisconnected") == 0


async def test_only_the_commands_of_nodes_that_are_gone_are_failed_at_a_start(
    database: async_sessionmaker[AsyncSession],
) -> None:
    async with database.begin() as session:
        for node in ("node-alive", "node-dead", None):
            session.add(
                OcpiCommand(
                    party_id=1,
                    command="UNLOCK_CONNECTOR",
                    response_url="http://emsp.invalid/commands/1",
                    station_id="CP-1",
                    node=node,
                )
            )

    async def live() -> set[str]:
        return {"node-alive", "node-starting"}

    remote = RemoteCommands(database, Outbox(), None, 1.0, node="node-starting", live_nodes=live)
    assert await remote.recover() == 2
    async with database() as session:
        rows = (await session.execute(select(OcpiCommand.node, OcpiCommand.state))).all()
    assert sorted(rows, key=str) == sorted(
        [("node-alive", "accepted"), ("node-dead", "answered"), (None, "answered")], key=str
    )


async def test_a_token_change_at_one_node_reaches_local_lists_of_chargers_on_another(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as nodes, EmspSimulator(party_id="EMS") as emsp:
        a, b = await nodes.node("node-a"), await nodes.node("node-b")
        await register_with(a, emsp)  # type: ignore[arg-type]
        await push(emsp, make_token("LL-CLUSTER", whitelist="ALWAYS"))
        await a.add_station("CP-LIST")
        async with charger(b, "CP-LIST") as cp:
            async with b.admin() as admin:
                response = await admin.post("/stations/CP-LIST/local-list")
            assert response.status_code == 200, response.text
            assert (await cp.wait_for_call("SendLocalList"))["updateType"] == "Full"
            # The eMSP blocks the token at node A, its OCPI peer.
            await emsp.request(
                "PATCH",
                "tokens",
                "/NL/EMS/LL-CLUSTER",
                json={"valid": False, "last_updated": "2026-11-24T12:00:00Z"},
            )
            update = await cp.wait_for_call("SendLocalList")
            assert update["updateType"] == "Differential"
            assert cp.local_list["LL-CLUSTER"] == "Invalid"


def _evse_pushes(emsp: EmspSimulator, evse_uid: str) -> list[str]:
    """The statuses the eMSP was sent for one EVSE, in the order they came."""
    return [
        r.body["status"]
        for r in emsp.received
        if r.module == "locations"
        and r.method == "PATCH"
        and r.path.rstrip("/").endswith(f"/{evse_uid}")
        and isinstance(r.body, dict)
        and "status" in r.body
    ]


async def test_each_change_reaches_the_emsp_once_and_in_order_from_two_nodes(
    tmp_path: Path,
) -> None:
    """Both nodes' chargers change; one projection in the cluster turns each change into one
    push, and of the two nodes' deliverers exactly one sends it."""
    async with cluster(tmp_path) as nodes, EmspSimulator(party_id="EMO") as emsp:
        a, b = await nodes.node("node-a"), await nodes.node("node-b")
        await register_with(a, emsp)  # type: ignore[arg-type]
        evses = [("ONCE-A1", "CP-ONCE-A", 1), ("ONCE-B1", "CP-ONCE-B", 1)]
        await post(a, "/locations", location("ONCE", evses))  # type: ignore[arg-type]
        for station_id in ("CP-ONCE-A", "CP-ONCE-B"):
            await a.add_station(station_id)
        changes = ["Preparing", "Available", "Unavailable", "Available", "Faulted", "Available"]
        seen = {"Preparing": "CHARGING", "Available": "AVAILABLE"}
        seen |= {"Unavailable": "INOPERATIVE", "Faulted": "OUTOFORDER"}
        async with charger(a, "CP-ONCE-A") as on_a, charger(b, "CP-ONCE-B") as on_b:
            for uid in ("ONCE-A1", "ONCE-B1"):
                await emsp.wait_for(
                    lambda r, uid=uid: _evse_pushes(emsp, uid)[-1:] == ["AVAILABLE"], timeout=20
                )
            before = {uid: len(_evse_pushes(emsp, uid)) for uid in ("ONCE-A1", "ONCE-B1")}
            for i, change in enumerate(changes):
                await asyncio.gather(on_a.status(1, change), on_b.status(1, change))
                for uid in ("ONCE-A1", "ONCE-B1"):
                    count = before[uid] + i + 1
                    await emsp.wait_for(
                        lambda r, uid=uid, count=count: len(_evse_pushes(emsp, uid)) >= count,
                        timeout=20,
                    )
            # Every change once, in the order the charger made them, from either node.
            for uid in ("ONCE-A1", "ONCE-B1"):
                sent = _evse_pushes(emsp, uid)[before[uid] :]
                assert sent == [seen[c] for c in changes], (uid, sent)
        assert not emsp.violations


async def test_a_node_killed_mid_session_and_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    """kill -9 of the node that holds a charger in a session and whose deliverer may be
    sending: the charger goes on on the other node, the session ends there and its eMSP gets
    one CDR with every kWh."""
    async with cluster(tmp_path) as nodes, EmspSimulator(party_id="EMK") as emsp:
        a, b = await nodes.node("node-a"), await nodes.node("node-b")
        await register_with(b, emsp)  # type: ignore[arg-type]
        body = location("KILL", [("KILL-E1", "CP-KILL", 1)])
        body["evses"][0]["capabilities"] = ["REMOTE_START_STOP_CAPABLE", "RFID_READER"]
        await post(b, "/locations", body)  # type: ignore[arg-type]
        await b.add_station("CP-KILL")
        async with charger(b, "CP-KILL") as cp:
            cp.reconnect = True
            start = {
                "token": make_token("APP-KILL", type="APP_USER", whitelist="NEVER", party_id="EMK"),
                "location_id": "KILL",
                "evse_uid": "KILL-E1",
            }
            status, answer = await emsp.send_command("START_SESSION", start)
            assert status == 200 and answer["data"]["result"] == "ACCEPTED", answer
            put = await emsp.wait_for(
                lambda r: r.module == "sessions" and r.method == "PUT", timeout=20
            )
            session_id = put.body["id"]
            await cp.send_meter_values(1, 600)
            # The eMSP holds the next Session update unanswered: a deliverer is mid-send.
            emsp.fault("slow", delay=30.0, modules={"sessions"})
            await cp.send_meter_values(1, 600)
            await emsp.wait_until_held("sessions")
            senders = await nodes.sql("SELECT claimed_by FROM outbox WHERE claimed_by IS NOT NULL")

            # The charger's next connection goes to node A (as a load balancer would send it).
            cp.url = a.ws_url
            await b.kill()
            emsp.clear_faults()

            async def back_on_a() -> bool:
                return bool((await a.station("CP-KILL"))["online"]) and not cp.closed

            await until(back_on_a, timeout=20, what="charger back on node A")
            await cp.send_meter_values(1, 600)
            tx = cp.transactions[1]
            await cp.stop_transaction(1, "Local")
            cdr = await emsp.wait_for(
                lambda r: r.module == "cdrs" and r.method == "POST", timeout=30
            )
            assert cdr.body["session_id"] == session_id, senders
            final = await emsp.wait_for(
                lambda r: (
                    r.module == "sessions"
                    and isinstance(r.body, dict)
                    and r.body.get("status") == "COMPLETED"
                ),
                timeout=30,
            )
            assert final.body["kwh"] == cdr.body["total_energy"]
            # Every Wh the charger metered, before and after the kill, is billed.
            assert tx.meter_stop_wh is not None
            billed = round(cdr.body["total_energy"] * 1000)
            assert billed == tx.meter_stop_wh - tx.meter_start_wh > 0
        cdrs = [r for r in emsp.received if r.module == "cdrs" and r.method == "POST"]
        assert len(cdrs) == 1, [c.body for c in cdrs]
