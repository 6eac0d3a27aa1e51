"""Command arguments a charger cannot take are refused with 422 before it is called; ids in
admin paths beyond 64 bits are a 4xx problem, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from simulators.charge_point import ChargePointSimulator
from tests.helpers.platform import Platform

PASSWORD = "charger-secret-1"
HUGE = 2**70  # beyond 64 bits
BIG = 2**40  # beyond 32 bits
EXPIRES = "2099-01-01T00:00:00Z"

# (command, body) that no charger of either version may be sent: out of range, or naming an
# EVSE or connector the charger (two EVSEs of one connector each) did not report.
EITHER = [
    ("unlock", {"evse_id": -1}),
    ("unlock", {"evse_id": BIG}),
    ("unlock", {"evse_id": HUGE}),
    ("unlock", {"evse_id": 3}),
    ("unlock", {"evse_id": 1, "connector_id": 2}),
    ("remote_start", {"id_token": "DRIVER", "evse_id": 5}),
    ("remote_start", {"id_token": "DRIVER", "evse_id": BIG}),
    ("remote_start", {"id_token": "DRIVER", "remote_start_id": -4}),
    ("remote_start", {"id_token": "X" * 37}),
    ("remote_start", {"id_token": "DRIVER", "token_type": "Passport"}),
    ("reserve", {"reservation_id": 1, "expires_at": EXPIRES, "id_token": "D", "evse_id": 9}),
    ("reserve", {"reservation_id": BIG, "expires_at": EXPIRES, "id_token": "D"}),
    ("cancel_reservation", {"reservation_id": BIG}),
    ("cancel_reservation", {"reservation_id": -1}),
    ("reset", {"type": "Sideways"}),
    ("change_availability", {"evse_id": 7, "operative": False}),
    ("change_availability", {"evse_id": 1, "operative": "maybe"}),
    ("trigger_message", {"message": "StatusNotification", "evse_id": 7}),
    ("trigger_message", {"message": "NoSuchMessage"}),
    ("remote_stop", {"transaction_id": HUGE}),
    ("remote_stop", {"transaction_id": -1}),
    ("set_charging_limit", {"evse_id": 1, "transaction_id": 1, "limit_w": -5}),
    ("set_charging_limit", {"evse_id": 1, "transaction_id": HUGE, "limit_w": 7400}),
    ("set_charging_limit", {"evse_id": 3, "transaction_id": 1, "limit_w": 7400}),
    ("set_charging_limit", {"evse_id": 1, "transaction_id": 1, "limit_w": 1e12}),
    ("clear_charging_limit", {"evse_id": 4}),
    ("send_local_list", {"version": BIG, "entries": []}),
    ("get_configuration", {"keys": ["K" * 102]}),
    ("get_log", {"log_type": "AuditLog"}),
    ("get_log", {"retries": -1}),
    ("get_log", {"oldest": "2026-02-01T00:00:00Z", "latest": "2026-01-01T00:00:00Z"}),
]
# ... and what only a 1.6 charger cannot take.
V16 = [
    ("remote_start", {"id_token": "X" * 21}),
    ("reserve", {"reservation_id": 1, "expires_at": EXPIRES, "id_token": "X" * 21}),
    ("send_local_list", {"version": 1, "entries": [{"id_token": "X" * 21, "status": "Accepted"}]}),
    ("reset", {"type": "Hard", "evse_id": 1}),  # 1.6 would reset the whole charger
    ("set_configuration", {"key": "K" * 51, "value": "1"}),
    ("set_configuration", {"key": "HeartbeatInterval", "value": "1" * 501}),
    ("get_configuration", {"keys": ["K" * 51]}),
    ("get_transaction_status", {}),  # 2.0.1 only
    ("get_diagnostics", {"retry_interval": -1}),
    ("get_diagnostics", {"start_time": "2026-02-01T00:00:00Z", "stop_time": "2026-01-01T00:00Z"}),
    ("change_availability", {"evse_id": 1, "connector_id": 1, "operative": False}),
    (
        "reserve",  # 1.6 reserves a connector, not any connector of a type
        {"reservation_id": 1, "expires_at": EXPIRES, "id_token": "T", "connector_type": "cType2"},
    ),
]
V201 = [
    ("set_configuration", {"key": "OCPPCommCtrlr." + "V" * 51, "value": "1"}),
    ("change_availability", {"connector_id": 1, "operative": False}),  # a connector of no EVSE
    ("get_transaction_status", {"transaction_id": 999_999}),  # no such transaction here
    ("get_diagnostics", {}),  # 1.6 only: 2.0.1 has GetLog
]


@pytest.fixture
async def chargers(platform: Platform) -> AsyncIterator[dict[str, ChargePointSimulator]]:
    """A 1.6 and a 2.0.1 charger online, each with two EVSEs reported Available."""
    found = {}
    for version in ("1.6", "2.0.1"):
        station = f"CP-ARGS-{version}"
        await platform.add_station(station, PASSWORD)
        cp = ChargePointSimulator(
            id=station, url=platform.ws_url, ocpp=version, password=PASSWORD, evses=2
        )
        await cp.connect()
        assert await cp.boot() == "Accepted"
        for evse in (1, 2):
            await cp.status(evse, "Available")
        found[version] = cp
    try:
        yield found
    finally:
        for cp in found.values():
            await cp.close()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_arguments_out_of_the_chargers_range_are_refused_before_it_is_called(
    platform: Platform, chargers: dict[str, ChargePointSimulator], version: str
) -> None:
    cp = chargers[version]
    cases: list[tuple[str, dict[str, Any]]] = EITHER + (V16 if version == "1.6" else V201)
    called = len(cp.received_calls)
    wrong = []
    async with platform.admin() as admin:
        for name, body in cases:
            response = await admin.post(f"/stations/{cp.id}/commands/{name}", json=body)
            if response.status_code != 422 or not response.headers["content-type"].startswith(
                "application/problem+json"
            ):
                wrong.append((name, body, response.status_code, response.text[:200]))
        # The charger still takes a command that fits it, and was asked nothing else.
        response = await admin.post(f"/stations/{cp.id}/commands/unlock", json={"evse_id": 2})
    assert wrong == []
    assert response.status_code == 200, response.text
    assert [action for action, _ in cp.received_calls[called:]] == ["UnlockConnector"]


async def test_ids_beyond_64_bits_in_admin_paths_are_a_problem_not_a_crash(
    platform: Platform,
) -> None:
    async with platform.admin() as admin:
        for method, path in [
            ("GET", f"/parties/{HUGE}"),
            ("GET", f"/parties/{2**63}"),
            ("DELETE", f"/parties/{HUGE}"),
            ("POST", f"/parties/{HUGE}/suspend"),
            ("GET", f"/parties/{HUGE}/push"),
            ("GET", f"/parties/{HUGE}/requests"),
            ("GET", f"/transactions/{HUGE}"),
            ("GET", f"/transactions/{2**63}"),
        ]:
            response = await admin.request(method, path)
            assert response.status_code == 404, (method, path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
