"""Chargers' certificates (OCPP 2.0.1 blocks A and M, the 1.6 security whitepaper): the
platform's CA signs what a charger asks for (SignCertificate, then CertificateSigned), roots
are installed, listed and deleted, and the operator sees what will expire; a simulated charger
through the real server, in both versions where the version has the message."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from csms.events import EventType
from simulators import certificates
from simulators.charge_point import ChargePointSimulator
from tests.helpers.browser import add_user, client, logged_in
from tests.helpers.platform import VERSIONS, Platform, command, online
from tests.helpers.processes import environment, run
from tests.helpers.wire import booted, call

ROOT = Path(__file__).resolve().parents[2]
# The CSMS root in each version's words, as the charger stores it.
CSMS_ROOT = {"1.6": "CentralSystemRootCertificate", "2.0.1": "CSMSRootCertificate"}


def a_root(name: str) -> str:
    """A self-signed root, as a manufacturer or a V2G PKI hands the operator one."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


async def get(platform: Platform, path: str, **params: Any) -> Any:
    async with platform.admin() as admin:
        response = await admin.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def trusting(platform: Platform, station_id: str, version: str) -> ChargePointSimulator:
    """A charger online that holds the platform's CA as its CSMS root, installed by the
    operator as OCPP has it."""
    sim = await online(platform, station_id, version)
    root = (await get(platform, "/certificates/authority"))["certificate"]
    body = {"certificate_type": "CSMSRootCertificate", "certificate": root}
    status, result = await command(platform, sim.id, "install_certificate", body)
    assert (status, result["status"]) == (200, "Accepted"), result
    assert sim.certificates.roots[CSMS_ROOT[version]] == [root]
    return sim


def leaf(sim: ChargePointSimulator) -> x509.Certificate:
    assert sim.certificates.chain is not None
    return x509.load_pem_x509_certificates(sim.certificates.chain.encode())[0]


# -- SignCertificate and CertificateSigned --------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_tc_a_14_update_charging_station_certificate_initiated_by_the_charging_station(
    platform: Platform, version: str
) -> None:
    sim = await trusting(platform, f"CP-SIGN-{version}", version)
    events = platform.events()
    assert await sim.sign_certificate() == "Accepted"
    issued = await events.wait("CertificateIssued", lambda e: e.station_id == sim.id)
    told = await events.wait("CertificateDelivered", lambda e: e.station_id == sim.id)
    assert told.data == {"serial": issued.data["serial"], "status": "Accepted"}
    cert = leaf(sim)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == sim.id
    assert format(cert.serial_number, "x") == issued.data["serial"]
    action, payload = next(c for c in sim.received_calls if c[0] == "CertificateSigned")
    if version == "2.0.1":
        assert payload["certificateType"] == "ChargingStationCertificate"
    else:
        assert set(payload) == {"certificateChain"}
    kept = await get(platform, f"/stations/{sim.id}/certificates")
    assert [c["serial"] for c in kept["issued"]] == [issued.data["serial"]]
    assert kept["issued"][0]["pem"] == sim.certificates.chain
    await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_tc_a_11_update_charging_station_certificate_by_request_of_csms(
    platform: Platform, version: str
) -> None:
    sim = await trusting(platform, f"CP-RENEW-{version}", version)
    events = platform.events()
    status, result = await command(platform, sim.id, "renew_certificate", {})
    assert (status, result["status"]) == (200, "Accepted")
    told = await events.wait("CertificateDelivered", lambda e: e.station_id == sim.id)
    assert told.data["status"] == "Accepted"
    trigger = "ExtendedTriggerMessage" if version == "1.6" else "TriggerMessage"
    asked = [p for a, p in sim.received_calls if a == trigger]
    expected = (
        "SignChargePointCertificate" if version == "1.6" else "SignChargingStationCertificate"
    )
    assert asked == [{"requestedMessage": expected}]
    first = leaf(sim).serial_number

    # Renewed again: a new key, a new certificate; the charger's newest is the one that counts.
    status, result = await command(platform, sim.id, "renew_certificate", {})
    assert result["status"] == "Accepted"
    await events.wait("CertificateDelivered", lambda e: e.station_id == sim.id)
    assert leaf(sim).serial_number != first
    expiring = await get(platform, "/certificates", expiring_within_days=400, station_id=sim.id)
    assert [c["serial"] for c in expiring] == [format(leaf(sim).serial_number, "x")]
    await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_charger_without_the_csms_root_rejects_the_certificate(
    platform: Platform, version: str
) -> None:
    sim = await online(platform, f"CP-NOROOT-{version}", version)
    told = await _signed(platform, sim)
    assert told.data["status"] == "Rejected"
    assert sim.certificates.refused == ["issued by no root the charger holds"]
    assert sim.certificates.chain is None
    await sim.close()


async def _signed(platform: Platform, sim: ChargePointSimulator) -> Any:
    events = platform.events()
    assert await sim.sign_certificate() == "Accepted"
    return await events.wait("CertificateDelivered", lambda e: e.station_id == sim.id)


# -- CSRs the platform does not sign ---------------------------------------------------------------


async def _refused(platform: Platform, sim: ChargePointSimulator, **kw: Any) -> str:
    events = platform.events()
    before = len(sim.received_calls)
    assert await sim.sign_certificate(**kw) == "Rejected"
    refused = await events.wait("CertificateRefused", lambda e: e.station_id == sim.id)
    assert await sim.heartbeat()  # the connection lives on
    assert "CertificateSigned" not in [a for a, _ in sim.received_calls[before:]]
    return str(refused.data["reason"])


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_csr_that_is_not_one_is_rejected(platform: Platform, version: str) -> None:
    sim = await online(platform, f"CP-BADCSR-{version}", version)
    garbage = (
        "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n"
    )
    assert "not a PEM certificate signing request" in await _refused(platform, sim, csr=garbage)
    assert "not a PEM" in await _refused(platform, sim, csr="hello")
    await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_csr_for_another_chargers_name_is_rejected(
    platform: Platform, version: str
) -> None:
    sim = await online(platform, f"CP-CN-{version}", version)
    sim.csr_common_name = "CP-SOMEONE-ELSE"
    assert "not the charger's id" in await _refused(platform, sim)
    await sim.close()


async def test_a_csr_whose_signature_does_not_match_its_key_is_rejected(
    platform: Platform,
) -> None:
    sim = await online(platform, "CP-FORGED", "2.0.1")
    key = ec.generate_private_key(ec.SECP256R1())
    good = certificates.csr(key, sim.id, None)
    request = x509.load_pem_x509_csr(good.encode())
    der = bytearray(request.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # one bit of the signature
    forged = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    assert "signature does not match" in await _refused(platform, sim, csr=forged)
    await sim.close()


async def test_a_v2g_certificate_is_not_signed_by_the_cpo_ca(platform: Platform) -> None:
    sim = await online(platform, "CP-V2G", "2.0.1")
    assert "signs no V2GCertificate" in await _refused(platform, sim, kind="V2GCertificate")
    await sim.close()


async def test_the_organization_must_be_the_configured_one(tmp_path: Path) -> None:
    platform = await Platform(tmp_path, certificate_organization="ACME Charging").start()
    try:
        sim = await online(platform, "CP-ORG", "2.0.1")
        assert "O is not 'ACME Charging'" in await _refused(platform, sim)
        sim.csr_organization = "ACME Charging"
        sim.csms_ca = (await get(platform, "/certificates/authority"))["certificate"]
        told = await _signed(platform, sim)
        assert told.data["status"] == "Accepted"
        await sim.close()
    finally:
        await platform.stop()


async def test_a_ca_that_cannot_be_made_rejects_rather_than_promises(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    ca = {"ca_cert": str(blocked / "ca.pem"), "ca_key": str(blocked / "ca.key")}
    platform = await Platform(tmp_path, **ca).start()
    try:
        sim = await online(platform, "CP-NOCA", "2.0.1")
        assert "not available" in await _refused(platform, sim)
        await sim.close()
    finally:
        await platform.stop()


@pytest.mark.parametrize("version", VERSIONS)
async def test_an_over_long_csr_is_a_call_error(platform: Platform, version: str) -> None:
    # Both versions name a string longer than its schema allows a TypeConstraintViolation.
    ws = await booted(platform, f"CP-LONGCSR-{version}", version)
    frame = await call(ws, "SignCertificate", {"csr": "A" * 5501})
    assert frame[0] == 4 and frame[2] == "TypeConstraintViolation", frame
    assert (await call(ws, "SignCertificate", {"csr": "A" * 5500}))[2] == {"status": "Rejected"}
    await ws.close()


# -- Plug & Charge requests (2.0.1), with no V2G PKI behind the platform ------------------------


async def test_plug_and_charge_requests_fail_at_once_with_the_reason(platform: Platform) -> None:
    events = platform.events()
    ws = await booted(platform, "CP-PNC", "2.0.1")
    contract = await call(
        ws,
        "Get15118EVCertificate",
        {"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Install",
         "exiRequest": "gAE="},
    )  # fmt: skip
    assert contract[0] == 3 and contract[2]["status"] == "Failed"
    assert contract[2]["exiResponse"] == ""
    assert contract[2]["statusInfo"]["reasonCode"] == "NotSupported"
    ocsp = {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": "a" * 64,
        "issuerKeyHash": "b" * 64,
        "serialNumber": "01",
        "responderURL": "http://ocsp.example.com",
    }
    status = await call(ws, "GetCertificateStatus", {"ocspRequestData": ocsp})
    assert status[0] == 3 and status[2]["status"] == "Failed" and "ocspResult" not in status[2]
    recorded = await events.wait(
        EventType.PLUG_AND_CHARGE.value, lambda e: e.data["request"] == "GetCertificateStatus"
    )
    assert recorded.data["serial"] == "01" and "V2G PKI" in recorded.data["reason"]
    bad = await call(ws, "Get15118EVCertificate", {"action": "Steal", "exiRequest": "x"})
    assert bad[0] == 4 and bad[2] in ("ProtocolError", "FormationViolation")  # no type given
    await ws.close()


# -- InstallCertificate, GetInstalledCertificateIds, DeleteCertificate ------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_tc_m_01_install_a_root_certificate(platform: Platform, version: str) -> None:
    sim = await online(platform, f"CP-INSTALL-{version}", version)
    root = a_root("Manufacturer Root")
    body = {"certificate_type": "ManufacturerRootCertificate", "certificate": root}
    status, result = await command(platform, sim.id, "install_certificate", body)
    assert (status, result["status"]) == (200, "Accepted")
    assert sim.certificates.roots == {"ManufacturerRootCertificate": [root]}
    sim.answers["InstallCertificate"] = "Failed"  # a charger whose store is full
    status, result = await command(platform, sim.id, "install_certificate", body)
    assert (status, result["status"]) == (200, "Failed")
    await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_tc_m_12_get_installed_certificate_ids_are_kept(
    platform: Platform, version: str
) -> None:
    sim = await online(platform, f"CP-IDS-{version}", version)
    status, result = await command(platform, sim.id, "get_installed_certificate_ids", {})
    assert (status, result["status"]) == (200, "NotFound")
    roots = {"CSMSRootCertificate": a_root("CSMS Root"), "ManufacturerRootCertificate": a_root("M")}
    for kind, pem in roots.items():
        body = {"certificate_type": kind, "certificate": pem}
        assert (await command(platform, sim.id, "install_certificate", body))[1]["status"] == (
            "Accepted"
        )
    events = platform.events()
    status, result = await command(platform, sim.id, "get_installed_certificate_ids", {})
    assert (status, result["status"]) == (200, "Accepted")
    await events.wait(EventType.CERTIFICATES_REPORTED, lambda e: e.station_id == sim.id)
    got = {
        c["certificate_type"]: c["certificate_hash_data"] for c in result["data"]["certificates"]
    }
    assert got == {kind: certificates.hash_data(pem) for kind, pem in roots.items()}
    kept = await get(platform, f"/stations/{sim.id}/certificates")
    assert {c["certificate_type"]: c["serial_number"] for c in kept["installed"]} == {
        kind: certificates.hash_data(pem)["serial_number"] for kind, pem in roots.items()
    }

    # One type asked for: only that type's are replaced.
    body = {"certificate_types": ["ManufacturerRootCertificate"]}
    status, result = await command(platform, sim.id, "get_installed_certificate_ids", body)
    assert [c["certificate_type"] for c in result["data"]["certificates"]] == [
        "ManufacturerRootCertificate"
    ]
    kept = await get(platform, f"/stations/{sim.id}/certificates")
    assert len(kept["installed"]) == 2
    await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_tc_m_20_delete_a_specific_certificate(platform: Platform, version: str) -> None:
    sim = await online(platform, f"CP-DELETE-{version}", version)
    root = a_root("Old CSMS Root")
    body = {"certificate_type": "CSMSRootCertificate", "certificate": root}
    assert (await command(platform, sim.id, "install_certificate", body))[1]["status"] == "Accepted"
    await command(platform, sim.id, "get_installed_certificate_ids", {})
    hash_data = certificates.hash_data(root)

    status, result = await command(platform, sim.id, "delete_certificate", hash_data)
    assert (status, result["status"]) == (200, "Accepted")
    assert sim.certificates.roots[CSMS_ROOT[version]] == []
    assert (await get(platform, f"/stations/{sim.id}/certificates"))["installed"] == []

    # A certificate the charger does not hold (deleted already): NotFound, nothing breaks.
    status, result = await command(platform, sim.id, "delete_certificate", hash_data)
    assert (status, result["status"]) == (200, "NotFound")
    await sim.close()


@pytest.mark.parametrize(
    ("name", "body", "words"),
    [
        (
            "install_certificate",
            {"certificate_type": "CSMSRootCertificate", "certificate": "x" * 5501},
            "at most 5500",
        ),
        (
            "install_certificate",
            {"certificate_type": "CSMSRootCertificate", "certificate": "not a certificate"},
            "should match pattern",
        ),
        (
            "install_certificate",
            {
                "certificate_type": "CSMSRootCertificate",
                "certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            },
            "not a PEM X.509 certificate",
        ),
        (
            "install_certificate",
            {"certificate_type": "TLSRoot", "certificate": "-----BEGIN CERTIFICATE-----"},
            "Input should be",
        ),
        (
            "delete_certificate",
            {
                "hash_algorithm": "MD5",
                "issuer_name_hash": "ab",
                "issuer_key_hash": "cd",
                "serial_number": "1",
            },
            "Input should be",
        ),
        (
            "delete_certificate",
            {
                "hash_algorithm": "SHA256",
                "issuer_name_hash": "not hex",
                "issuer_key_hash": "cd",
                "serial_number": "1",
            },
            "should match pattern",
        ),
        ("get_installed_certificate_ids", {"certificate_types": ["Mine"]}, "Input should be"),
    ],
)
async def test_bad_certificate_commands_are_refused_before_the_charger_is_asked(
    platform: Platform, name: str, body: dict[str, Any], words: str
) -> None:
    sim = await online(platform, "CP-CERT-BAD", "2.0.1")
    before = len(sim.received_calls)
    status, result = await command(platform, sim.id, name, body)
    assert status == 422 and words in str(result), result
    assert sim.received_calls[before:] == []
    await sim.close()


async def test_a_1_6_charger_holds_no_v2g_roots(platform: Platform) -> None:
    sim = await online(platform, "CP-CERT-16", "1.6")
    body = {"certificate_type": "V2GRootCertificate", "certificate": a_root("V2G Root")}
    status, result = await command(platform, sim.id, "install_certificate", body)
    assert status == 422 and "a 1.6 charger holds no V2GRootCertificate" in str(result)
    body = {"certificate_types": ["MORootCertificate"]}
    status, result = await command(platform, sim.id, "get_installed_certificate_ids", body)
    assert status == 422 and "holds no MORootCertificate" in str(result)
    status, result = await command(
        platform, sim.id, "renew_certificate", {"certificate_type": "V2GCertificate"}
    )
    assert status == 422
    await sim.close()


# -- what the operator sees --------------------------------------------------------------------------


async def test_certificates_about_to_expire_are_listed_counted_and_shown(tmp_path: Path) -> None:
    platform = await Platform(tmp_path, certificate_days=20, certificate_warn_days=30).start()
    try:
        sim = await online(platform, "CP-EXPIRES", "2.0.1")
        sim.csms_ca = (await get(platform, "/certificates/authority"))["certificate"]
        assert (await _signed(platform, sim)).data["status"] == "Accepted"
        serial = format(leaf(sim).serial_number, "x")

        soon = await get(platform, "/certificates", expiring_within_days=30)
        assert [(c["station_id"], c["serial"]) for c in soon] == [(sim.id, serial)]
        assert await get(platform, "/certificates", expiring_within_days=10) == []
        async with platform.admin() as admin:
            bad = await admin.get("/certificates", params={"expiring_within_days": -1})
        assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"

        metrics = await get_text(platform, "/metrics")
        assert "cpo_ocpp_certificates_expiring 1.0" in metrics

        code, out, err = await run(
            sys.executable,
            "-m",
            "cpo.cli",
            "certificate",
            "list",
            "--expiring-within-days",
            "30",
            "--json",
            env=_cli_env(platform),
            cwd=ROOT,
        )
        assert code == 0, err
        assert [c["serial"] for c in json.loads(out)] == [serial]

        page = await console_page(platform, sim.id)
        assert serial in page
        await sim.close()
    finally:
        await platform.stop()


async def test_the_cli_installs_renews_and_deletes(platform: Platform, tmp_path: Path) -> None:
    sim = await online(platform, "CP-CERT-CLI", "1.6")
    root = tmp_path / "root.pem"
    root.write_text((await get(platform, "/certificates/authority"))["certificate"])

    async def cpo(*args: str) -> Any:
        code, out, err = await run(
            sys.executable, "-m", "cpo.cli", *args, "--json", env=_cli_env(platform), cwd=ROOT
        )
        assert code == 0, err
        return json.loads(out)

    assert (await cpo("certificate", "install", sim.id, "CSMSRootCertificate", str(root)))[
        "status"
    ] == "Accepted"
    events = platform.events()
    assert (await cpo("certificate", "renew", sim.id))["status"] == "Accepted"
    told = await events.wait("CertificateDelivered", lambda e: e.station_id == sim.id)
    assert told.data["status"] == "Accepted"
    installed = await cpo("certificate", "installed", sim.id)
    [held] = installed["data"]["certificates"]
    h = held["certificate_hash_data"]
    deleted = await cpo(
        "certificate",
        "delete",
        sim.id,
        "--issuer-name-hash",
        h["issuer_name_hash"],
        "--issuer-key-hash",
        h["issuer_key_hash"],
        "--serial-number",
        h["serial_number"],
    )
    assert deleted["status"] == "Accepted"
    await sim.close()


def _cli_env(platform: Platform) -> dict[str, str]:
    return environment(platform.cli_env())


async def get_text(platform: Platform, path: str) -> str:
    async with httpx.AsyncClient(base_url=platform.url) as http:
        response = await http.get(path)
    assert response.status_code == 200
    return response.text


async def console_page(platform: Platform, station_id: str) -> str:
    await add_user(platform, "vera", "viewer")
    async with client(platform) as http:
        await logged_in(http, "vera")
        page = await http.get(f"/console/stations/{station_id}")
    assert page.status_code == 200
    return page.text


async def test_the_console_offers_each_certificate_command(platform: Platform) -> None:
    sim = await online(platform, "CP-CERT-CONSOLE", "2.0.1")
    await add_user(platform, "olga", "operator")
    page_url = f"/console/stations/{sim.id}"
    async with client(platform) as http:
        token = await logged_in(http, "olga")
        page = (await http.get(page_url)).text
        for name in (
            "install_certificate",
            "get_installed_certificate_ids",
            "delete_certificate",
            "renew_certificate",
        ):
            assert f"/commands/{name}" in page
        form = {"csrf_token": token, "certificate_type": "CSMSRootCertificate"}
        form["certificate"] = (await get(platform, "/certificates/authority"))["certificate"]
        asked = await http.post(f"{page_url}/commands/install_certificate", data=form)
        assert asked.status_code == 200 and "Accepted" in asked.text
        form = {"csrf_token": token, "certificate_types": ""}
        asked = await http.post(f"{page_url}/commands/get_installed_certificate_ids", data=form)
        assert asked.status_code == 200 and "Accepted" in asked.text
    assert sim.certificates.roots["CSMSRootCertificate"]
    await sim.close()
