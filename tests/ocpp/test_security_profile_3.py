"""Security profile 3: chargers identified by their client certificate, at uvicorn's TLS and
behind a proxy that ended TLS; the per-station profile; and its upgrade over OCPP."""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trustme
from websockets.exceptions import InvalidStatus

from cpo.server import Unservable, check_tls
from cpo.settings import Settings
from simulators.charge_point import ChargePointSimulator
from tests.helpers.platform import Platform, command
from tests.helpers.wire import BOOT16, BOOT201, basic, call, open_raw


@dataclass
class Pki:
    """A CA that issued the server's certificate and issues chargers' ones, and the files the
    platform reads."""

    ca: trustme.CA
    cert: str
    key: str
    client_ca: str

    def client(
        self, common_name: str | None = None, issuer: trustme.CA | None = None, **kw: Any
    ) -> ssl.SSLContext:
        """A charger's TLS: trusts our server, with a client certificate of `common_name`."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        context.maximum_version = (
            ssl.TLSVersion.TLSv1_2
        )  # a refused certificate fails the handshake
        if common_name is not None:
            (issuer or self.ca).issue_cert(common_name=common_name, **kw).configure_cert(context)
        return context

    def pem(self, common_name: str) -> str:
        return self.ca.issue_cert(common_name=common_name).cert_chain_pems[0].bytes().decode()


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = {name: str(tmp_path / f"{name}.pem") for name in ("cert", "key", "client_ca")}
    server.cert_chain_pems[0].write_to_path(files["cert"])
    server.private_key_pem.write_to_path(files["key"])
    ca.cert_pem.write_to_path(files["client_ca"])
    return Pki(ca, **files)


@pytest.fixture
async def mtls(tmp_path: Path, pki: Pki) -> AsyncIterator[Platform]:
    """The platform serving wss:// and asking chargers for a client certificate."""
    p = await Platform(
        tmp_path, tls_cert=pki.cert, tls_key=pki.key, tls_client_ca=pki.client_ca
    ).start()
    try:
        yield p
    finally:
        await p.stop()


async def add_station(
    platform: Platform, station_id: str, profile: int, password: str | None = None
) -> None:
    async with platform.admin() as admin:
        body = {"id": station_id, "security_profile": profile} | (
            {"password": password} if password else {}
        )
        response = await admin.post("/stations", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["security_profile"] == profile


async def refused(platform: Platform, station_id: str, **kw: Any) -> int:
    """The HTTP status the upgrade of `station_id`'s socket is refused with."""
    with pytest.raises(InvalidStatus) as denial:
        await open_raw(platform.ws_url, station_id, ["ocpp2.0.1"], **kw)
    return denial.value.response.status_code


async def boots(platform: Platform, station_id: str, **kw: Any) -> None:
    async with await open_raw(platform.ws_url, station_id, ["ocpp2.0.1"], **kw) as ws:
        assert (await call(ws, "BootNotification", BOOT201))[2]["status"] == "Accepted"


# -- at uvicorn's TLS ------------------------------------------------------------------------------


async def test_a_client_certificate_naming_the_charger_identifies_it(
    mtls: Platform, pki: Pki
) -> None:
    await add_station(mtls, "CP-MTLS", 3)
    await boots(mtls, "CP-MTLS", ssl=pki.client("CP-MTLS"))
    # Its certificate, not a password, is what let it in: a wrong one in the header changes nothing.
    await boots(
        mtls, "CP-MTLS", ssl=pki.client("CP-MTLS"), headers=basic("CP-MTLS", "not-the-password-1")
    )


async def test_a_certificate_of_another_charger_is_refused_and_counts_as_a_guess(
    mtls: Platform, pki: Pki
) -> None:
    await add_station(mtls, "CP-VICTIM", 3)
    other = pki.client("CP-THIEF")
    assert await refused(mtls, "CP-VICTIM", ssl=other) == 403
    statuses = [await refused(mtls, "CP-VICTIM", ssl=other) for _ in range(6)]
    assert statuses[:5] == [403] * 5 and statuses[-1] == 429  # the password back-off
    # The real charger, from the same address, still gets in.
    await boots(mtls, "CP-VICTIM", ssl=pki.client("CP-VICTIM"))


async def test_a_profile_3_station_without_a_certificate_is_refused_even_with_its_password(
    mtls: Platform, pki: Pki
) -> None:
    await add_station(mtls, "CP-P3", 3, password="profile3-password-01")
    headers = basic("CP-P3", "profile3-password-01")
    assert await refused(mtls, "CP-P3", ssl=pki.client(), headers=headers) == 401


async def test_a_profile_2_station_still_connects_with_its_password(
    mtls: Platform, pki: Pki
) -> None:
    await add_station(mtls, "CP-P2", 2, password="profile2-password-01")
    await boots(mtls, "CP-P2", ssl=pki.client(), headers=basic("CP-P2", "profile2-password-01"))
    headers = basic("CP-P2", "wrong-password-00001")
    assert await refused(mtls, "CP-P2", ssl=pki.client(), headers=headers) == 401


@pytest.mark.parametrize(
    "certificate",
    [
        pytest.param({"not_after": datetime.now(UTC) - timedelta(days=1)}, id="expired"),
        pytest.param({"issuer": trustme.CA()}, id="another-ca"),
    ],
)
async def test_a_certificate_that_does_not_verify_is_refused_at_tls(
    mtls: Platform, pki: Pki, certificate: dict[str, Any]
) -> None:
    await add_station(mtls, "CP-BAD", 1)
    # The server's alert, or its reset when the alert is lost on the way.
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await open_raw(
            mtls.ws_url, "CP-BAD", ["ocpp2.0.1"], ssl=pki.client("CP-BAD", **certificate)
        )


async def test_profile_3_alone_refuses_connections_without_a_certificate_at_tls(
    tmp_path: Path, pki: Pki
) -> None:
    # The whole listener asks for certificates then, the admin API's included: chargers
    # register themselves here.
    p = await Platform(
        tmp_path,
        tls_cert=pki.cert,
        tls_key=pki.key,
        tls_client_ca=pki.client_ca,
        tls_client_cert_required=True,
        auto_register=True,
    ).start()
    try:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            await open_raw(p.ws_url, "CP-ONLY3", ["ocpp2.0.1"], ssl=pki.client())
        await boots(p, "CP-ONLY3", ssl=pki.client("CP-ONLY3"))
        assert await refused(p, "CP-ONLY3", ssl=pki.client("CP-NOT-ONLY3")) == 403
    finally:
        await p.stop()


def test_client_certificate_settings_that_cannot_work_stop_the_start(
    tmp_path: Path, pki: Pki
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cases = [
        ({"tls_client_ca": str(garbage)}, "CPO_TLS_CLIENT_CA: cannot load"),
        ({"tls_client_ca": str(tmp_path / "nowhere.pem")}, "CPO_TLS_CLIENT_CA: cannot load"),
        ({"tls_cert": None, "tls_key": None}, "CPO_TLS_CLIENT_CA is set without CPO_TLS_CERT"),
        (
            {"tls_client_ca": None, "tls_client_cert_required": True},
            "CPO_TLS_CLIENT_CERT_REQUIRED is set without CPO_TLS_CLIENT_CA",
        ),
    ]
    for changed, message in cases:
        given = {"tls_cert": pki.cert, "tls_key": pki.key, "tls_client_ca": pki.client_ca} | changed
        with pytest.raises(Unservable) as stopped:
            check_tls(Settings(_env_file=None, **given))  # type: ignore[call-arg]
        assert str(stopped.value).startswith(message), stopped.value
    check_tls(
        Settings(_env_file=None, tls_cert=pki.cert, tls_key=pki.key, tls_client_ca=pki.client_ca)
    )  # type: ignore[call-arg]


# -- behind a proxy that ended TLS ------------------------------------------------------------------


def forwarded(pem: str) -> dict[str, str]:
    """What a proxy that ended mutual TLS adds (nginx: $ssl_client_escaped_cert)."""
    return {"X-Forwarded-Proto": "https", "X-Client-Cert": quote(pem, safe="")}


async def test_behind_a_proxy_the_certificate_comes_in_its_header(
    platform: Platform, pki: Pki
) -> None:
    await add_station(platform, "CP-PX3", 3)
    await boots(platform, "CP-PX3", headers=forwarded(pki.pem("CP-PX3")))
    assert await refused(platform, "CP-PX3", headers=forwarded(pki.pem("CP-OTHER"))) == 403
    assert await refused(platform, "CP-PX3", headers=forwarded("garbage")) == 401
    der = ssl.PEM_cert_to_DER_cert(pki.pem("CP-PX3"))  # HAProxy sends base64 DER
    await boots(platform, "CP-PX3", headers=forwarded(base64.b64encode(der).decode()))
    assert await refused(platform, "CP-PX3", headers={"X-Forwarded-Proto": "https"}) == 401


async def test_the_header_of_a_peer_that_is_not_a_trusted_proxy_is_ignored(
    tmp_path: Path, pki: Pki
) -> None:
    p = await Platform(tmp_path, forwarded_allow_ips="192.0.2.1").start()
    try:
        await add_station(p, "CP-SPOOF", 3)
        assert await refused(p, "CP-SPOOF", headers=forwarded(pki.pem("CP-SPOOF"))) == 401
    finally:
        await p.stop()


async def test_a_profile_2_station_is_refused_without_tls(platform: Platform) -> None:
    await add_station(platform, "CP-PX2", 2, password="proxy2-password-001")
    headers = basic("CP-PX2", "proxy2-password-001")
    assert await refused(platform, "CP-PX2", headers=headers) == 403
    await boots(platform, "CP-PX2", headers=headers | {"X-Forwarded-Proto": "https"})


# -- upgrading a charger's profile ---------------------------------------------------------------------


async def charger(
    platform: Platform, pki: Pki, station_id: str, version: str, **kw: Any
) -> ChargePointSimulator:
    sim = ChargePointSimulator(
        id=station_id, url=platform.ws_url, ocpp=version, password="charger-secret-01", **kw
    )
    sim.tls = pki.client()
    await sim.connect()
    assert await sim.boot() == "Accepted"
    return sim


async def station_profile(platform: Platform, station_id: str) -> int:
    async with platform.admin() as admin:
        return int((await admin.get(f"/stations/{station_id}")).json()["security_profile"])


async def test_tc_a_19_upgrade_charging_station_security_profile_accepted(
    mtls: Platform, pki: Pki
) -> None:
    await add_station(mtls, "CP-UP201", 2, password="charger-secret-01")
    sim = await charger(mtls, pki, "CP-UP201", "2.0.1")
    try:
        body = {"security_profile": 3, "csms_url": mtls.ws_url, "slot": 1}
        status, result = await command(mtls, "CP-UP201", "upgrade_security_profile", body)
        assert status == 200, result
        assert result["status"] == "Accepted" and result["data"]["security_profile"] == 3
        assert sim.network_profiles[1]["security_profile"] == 3
        assert sim.network_profiles[1]["ocpp_csms_url"] == mtls.ws_url
        assert sim.variables["OCPPCommCtrlr", "NetworkConfigurationPriority"] == "1"
        assert await station_profile(mtls, "CP-UP201") == 3
    finally:
        await sim.close()
    # After its reset it comes with its certificate; its password no longer does.
    headers = basic("CP-UP201", "charger-secret-01")
    assert await refused(mtls, "CP-UP201", ssl=pki.client(), headers=headers) == 401
    await boots(mtls, "CP-UP201", ssl=pki.client("CP-UP201"))


async def test_a_1_6_charger_takes_a_higher_security_profile(mtls: Platform, pki: Pki) -> None:
    await add_station(mtls, "CP-UP16", 1, password="charger-secret-01")
    sim = await charger(mtls, pki, "CP-UP16", "1.6")
    try:
        status, result = await command(
            mtls, "CP-UP16", "upgrade_security_profile", {"security_profile": 3}
        )
        assert status == 200 and result["status"] == "Accepted", result
        assert sim.configuration["SecurityProfile"] == "3"
        assert await station_profile(mtls, "CP-UP16") == 3
        # Never lowered over OCPP, nor "upgraded" to what it has.
        for lower in (2, 3):
            status, result = await command(
                mtls, "CP-UP16", "upgrade_security_profile", {"security_profile": lower}
            )
            assert status == 422 and "only the operator lowers it" in str(result), result
    finally:
        await sim.close()
    headers = basic("CP-UP16", "charger-secret-01")
    with pytest.raises(InvalidStatus) as denial:
        await open_raw(mtls.ws_url, "CP-UP16", ["ocpp1.6"], headers, ssl=pki.client())
    assert denial.value.response.status_code == 401
    async with await open_raw(mtls.ws_url, "CP-UP16", ["ocpp1.6"], ssl=pki.client("CP-UP16")) as ws:
        assert (await call(ws, "BootNotification", BOOT16))[2]["status"] == "Accepted"
    # The operator may lower it again.
    async with mtls.admin() as admin:
        response = await admin.patch("/stations/CP-UP16", json={"security_profile": 2})
    assert response.status_code == 200 and response.json()["security_profile"] == 2
    await boots(mtls, "CP-UP16", ssl=pki.client(), headers=headers)


async def test_an_upgrade_the_charger_rejects_changes_nothing(mtls: Platform, pki: Pki) -> None:
    await add_station(mtls, "CP-NOUP", 2, password="charger-secret-01")
    sim = await charger(mtls, pki, "CP-NOUP", "2.0.1")
    try:
        sim.answers["SetNetworkProfile"] = "Rejected"
        body = {"security_profile": 3, "csms_url": mtls.ws_url}
        status, result = await command(mtls, "CP-NOUP", "upgrade_security_profile", body)
        assert status == 200 and result["status"] == "Rejected", result
        assert await station_profile(mtls, "CP-NOUP") == 2
        # 2.0.1 gives the new profile with the URL to reach us by.
        status, result = await command(
            mtls, "CP-NOUP", "upgrade_security_profile", {"security_profile": 3}
        )
        assert status == 422 and "csms_url" in str(result), result
    finally:
        await sim.close()
