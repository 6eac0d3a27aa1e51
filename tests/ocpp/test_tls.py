"""Security profile 2: Basic auth over TLS terminated by uvicorn, and behind a TLS-terminating proxy."""

from __future__ import annotations

import ssl
import warnings
from pathlib import Path

import pytest
import trustme
from websockets.exceptions import InvalidStatus

from tests.helpers.platform import Platform
from tests.helpers.wire import BOOT201, basic, call, open_raw


async def test_wss_with_basic_auth(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    server_cert.cert_chain_pems[0].write_to_path(str(cert))
    server_cert.private_key_pem.write_to_path(str(key))
    p = await Platform(tmp_path, tls_cert=str(cert), tls_key=str(key)).start()
    try:
        await p.add_station("CP-TLS", password="tls-password-00001")
        assert p.ws_url.startswith("wss://")
        client = ssl.create_default_context()
        ca.configure_trust(client)
        client.maximum_version = ssl.TLSVersion.TLSv1_2  # the suites OCPP names are TLS 1.2 suites
        async with await open_raw(
            p.ws_url, "CP-TLS", ["ocpp2.0.1"], basic("CP-TLS", "tls-password-00001"), ssl=client
        ) as ws:
            assert (await call(ws, "BootNotification", BOOT201))[2]["status"] == "Accepted"
            cipher = ws.transport.get_extra_info("cipher")
            assert cipher[1] == "TLSv1.2" and "GCM" in cipher[0]
        with pytest.raises(InvalidStatus) as refused:
            await open_raw(
                p.ws_url,
                "CP-TLS",
                ["ocpp2.0.1"],
                basic("CP-TLS", "wrong-password-0001"),
                ssl=client,
            )
        assert refused.value.response.status_code == 401
        legacy = ssl.create_default_context()
        ca.configure_trust(legacy)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # that is the point: TLS 1.1
            legacy.minimum_version = legacy.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises((ssl.SSLError, OSError)):
            await open_raw(p.ws_url, "CP-TLS", ["ocpp2.0.1"], ssl=legacy)
    finally:
        await p.stop()


async def test_behind_a_proxy_that_terminated_tls(platform: Platform) -> None:
    # The proxy speaks plain WebSocket to us and says the charger came over TLS.
    await platform.add_station("CP-PROXY", password="proxy-password-0001")
    headers = basic("CP-PROXY", "proxy-password-0001") | {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "203.0.113.7",
    }
    async with await open_raw(platform.ws_url, "CP-PROXY", ["ocpp1.6"], headers) as ws:
        assert (await call(ws, "Heartbeat", {}))[
            2
        ] == "SecurityError"  # reached the CSMS, not yet booted
