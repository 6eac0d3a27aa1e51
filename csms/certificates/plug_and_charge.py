"""Plug & Charge (ISO 15118) as a 2.0.1 charger asks the CSMS for it: an EV's contract
certificate (Get15118EVCertificate) and the revocation status of a certificate (OCSP,
GetCertificateStatus), both answered by a V2G PKI behind the `PlugAndCharge` boundary.

The platform has no V2G PKI of its own (ADR 026): `NoPlugAndCharge` answers both Failed with a
reason, so a charger falls back to other authorization at once instead of waiting on a request
nobody answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Answer:
    """What the charger is told: Accepted with the PKI's data (base64: the EXI response or the
    OCSP response), or Failed with the reason."""

    status: str  # Accepted | Failed
    data: str | None = None
    reason_code: str | None = None  # StatusInfo's, at most 20 characters
    reason: str | None = None


class PlugAndCharge(Protocol):
    async def contract_certificate(
        self, station_id: str, schema_version: str, action: str, exi_request: str
    ) -> Answer:
        """An EV's CertificateInstallationReq or CertificateUpdateReq (EXI, base64)."""
        ...

    async def certificate_status(self, station_id: str, ocsp_request: dict[str, str]) -> Answer:
        """The OCSP status of the certificate named by `ocsp_request` (OCSPRequestDataType)."""
        ...


NO_PKI = "no V2G PKI (Plug & Charge) is connected to this platform"


class NoPlugAndCharge:
    async def contract_certificate(
        self, station_id: str, schema_version: str, action: str, exi_request: str
    ) -> Answer:
        return Answer("Failed", reason_code="NotSupported", reason=NO_PKI)

    async def certificate_status(self, station_id: str, ocsp_request: dict[str, str]) -> Answer:
        return Answer("Failed", reason_code="NotSupported", reason=NO_PKI)
