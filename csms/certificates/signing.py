"""A charger's SignCertificate, in both versions: the CSR is judged while the charger waits
(Accepted or Rejected), then signed and sent back in a CertificateSigned of its own, after the
answer (OCPP 2.0.1 A02/A03, the 1.6 security whitepaper's use case A02)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from csms.certificates import records
from csms.certificates.authority import (
    CertificateKind,
    CertificateSigner,
    CsrRefused,
    read_csr,
)

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store

log = logging.getLogger(__name__)

KINDS: tuple[CertificateKind, ...] = ("ChargingStationCertificate", "V2GCertificate")


def _kind(given: str | None) -> CertificateKind:
    # 2.0.1: "When omitted the certificate is to be used for both the 15118 connection (if
    # implemented) and the Charging Station to CSMS connection"; 1.6 has only the latter.
    return "V2GCertificate" if given == "V2GCertificate" else "ChargingStationCertificate"


async def judge(conn: StationConnection, store: Store, csr: str, given: str | None) -> str:
    """The answer to SignCertificate: Accepted when the CSR will be signed."""
    kind = _kind(given)
    signer = conn.config.signer
    try:
        if signer is None or not signer.signs(kind):
            raise CsrRefused(f"this platform signs no {kind}")
        read_csr(csr, conn.station_id, kind, conn.config.certificate_organization)
        await _ready(signer)
    except CsrRefused as e:
        log.info("%s: certificate signing request refused: %s", conn.station_id, e)
        await records.refused(store, conn.station_id, kind, str(e))
        return "Rejected"
    return "Accepted"


async def _ready(signer: CertificateSigner) -> None:
    """CsrRefused when the signer cannot sign now (its CA files unreadable, say): the charger
    is told Rejected rather than Accepted and then nothing."""
    try:
        await signer.root()
    except (OSError, ValueError) as e:
        log.error("the certificate authority is not available: %s", e)
        raise CsrRefused("the certificate authority is not available") from e


def follow(conn: StationConnection, store: Store, csr: str, given: str | None) -> None:
    """After an Accepted answer: sign and send, off the message loop."""
    conn.spawn(_deliver(conn, store, csr, _kind(given)), "certificate-signed")


async def _deliver(conn: StationConnection, store: Store, csr: str, kind: CertificateKind) -> None:
    signer = conn.config.signer
    assert signer is not None  # judged Accepted
    try:
        request = read_csr(csr, conn.station_id, kind, conn.config.certificate_organization)
        certificate = await signer.sign(request, conn.station_id, kind)
    except CsrRefused as e:
        await records.refused(store, conn.station_id, kind, str(e))
        return
    await records.issued(store, conn.station_id, kind, certificate)
    message: Any
    if conn.ocpp_version == "1.6":
        message = call16.CertificateSigned(certificate_chain=certificate.chain_pem)
    else:
        message = call201.CertificateSigned(
            certificate_chain=certificate.chain_pem, certificate_type=kind
        )
    status: str | None = None
    try:
        reply = await conn.call(message)
        status = str(reply.status)
    except (TimeoutError, ConnectionError, OCPPError) as e:
        # The charger asks again (its CertificateSignedTimeout): a new certificate then.
        log.info("%s: CertificateSigned not taken: %r", conn.station_id, e)
    await records.delivered(store, conn.station_id, certificate.serial, status)
