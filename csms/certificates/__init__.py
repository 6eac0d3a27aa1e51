"""Chargers' certificates (OCPP 2.0.1 blocks A and M, the 1.6 security whitepaper): the CPO's
certificate authority behind a signer boundary (`authority`), what chargers ask signed
(`signing`), and what the platform issued and chargers hold (`records`)."""

from __future__ import annotations

from csms.certificates.authority import (
    CertificateKind,
    CertificateSigner,
    CsrRefused,
    Issued,
    OwnAuthority,
    read_csr,
)

__all__ = [
    "CertificateKind",
    "CertificateSigner",
    "CsrRefused",
    "Issued",
    "OwnAuthority",
    "read_csr",
]
