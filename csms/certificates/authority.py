"""Who signs a charger's certificate: the `CertificateSigner` boundary, the checks every
certificate signing request (CSR) passes first, and `OwnAuthority`, the CPO's own certificate
authority: an ECDSA P-256 key and self-signed certificate kept in two files, made on first use.

A V2G / Plug & Charge PKI (a Hubject or a national root behind a signing service) plugs in as
another `CertificateSigner`; the platform around it (the handlers, the table of issued
certificates, the expiry warnings) stays as it is."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from csms import clock

CertificateKind = Literal["ChargingStationCertificate", "V2GCertificate"]
CSR_MAX = 5500  # SignCertificate's csr, both versions
RSA_MIN_BITS = 2048  # OCPP 2.0.1 part 2, A00: RSA of 2048 bits at least, or ECDSA
EC_CURVES = (ec.SECP256R1, ec.SECP384R1)
CA_YEARS = 10
BACKDATE = timedelta(minutes=5)  # a charger whose clock is a little behind takes it too


class CsrRefused(ValueError):
    """A CSR the platform does not sign; the reason goes to the event log, the charger gets
    Rejected."""


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate signed for a charger: the chain it is sent (leaf first) and the leaf."""

    chain_pem: str
    pem: str
    serial: str  # hexadecimal, as OCPP's CertificateHashData writes it
    not_after: datetime
    fingerprint: str  # SHA-256 of the DER, hexadecimal


class CertificateSigner(Protocol):
    """Signs what a charger asked for. `sign` raises CsrRefused for what it does not sign."""

    def signs(self, kind: CertificateKind) -> bool:
        """Whether this signer issues certificates of this kind at all."""
        ...

    async def sign(
        self, csr: x509.CertificateSigningRequest, station_id: str, kind: CertificateKind
    ) -> Issued: ...

    async def root(self) -> str:
        """The root (PEM) its charging station certificates chain to: what a charger must
        hold as its CSMS root certificate to take them (install_certificate)."""
        ...


def read_csr(
    pem: str, station_id: str, kind: CertificateKind, organization: str | None
) -> x509.CertificateSigningRequest:
    """The CSR if it may be signed: PEM within OCPP's bound, signed by the key it carries (a
    key OCPP allows), its CN the charger's identity for a ChargingStationCertificate (the
    security profile 3 rule) and its O the CPO's when one is configured; CsrRefused otherwise."""
    if len(pem) > CSR_MAX:
        raise CsrRefused(f"the CSR is longer than {CSR_MAX} characters")
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError as e:
        raise CsrRefused(f"not a PEM certificate signing request ({e})") from None
    try:
        valid = csr.is_signature_valid
        key = csr.public_key()
    except (ValueError, x509.UnsupportedGeneralNameType) as e:
        raise CsrRefused(f"the CSR cannot be read ({e})") from None
    except Exception as e:  # the backend names an unknown algorithm its own way
        raise CsrRefused(f"the CSR cannot be read ({type(e).__name__})") from None
    if not valid:
        raise CsrRefused("the CSR's signature does not match its key")
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < RSA_MIN_BITS:
            raise CsrRefused(f"an RSA key of {key.key_size} bits (at least {RSA_MIN_BITS})")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, EC_CURVES):
            raise CsrRefused(f"an elliptic curve OCPP does not name ({key.curve.name})")
    else:
        raise CsrRefused(f"a {type(key).__name__.removeprefix('_')} key (RSA or ECDSA only)")
    common_name = _one(csr.subject, NameOID.COMMON_NAME)
    if kind == "ChargingStationCertificate" and common_name != station_id:
        raise CsrRefused(f"the CSR's CN is {common_name!r}, not the charger's id {station_id!r}")
    if organization is not None and _one(csr.subject, NameOID.ORGANIZATION_NAME) != organization:
        raise CsrRefused(f"the CSR's O is not {organization!r}")
    return csr


def _one(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode(errors="replace")


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


class OwnAuthority:
    """The CPO's certificate authority: charging station certificates only (a V2G certificate
    must chain to the V2G root, which is not ours). Its key and certificate live in two files,
    made on first use; processes sharing the files take turns making them (a lock file)."""

    def __init__(
        self, cert_path: Path, key_path: Path, days: int = 365, name: str = "CPO Platform"
    ) -> None:
        self.cert_path, self.key_path = cert_path, key_path
        self.days, self.name = days, name
        self._loaded: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None

    def signs(self, kind: CertificateKind) -> bool:
        return kind == "ChargingStationCertificate"

    async def root(self) -> str:
        ca, _ = await self._ca()
        return ca.public_bytes(serialization.Encoding.PEM).decode()

    async def sign(
        self, csr: x509.CertificateSigningRequest, station_id: str, kind: CertificateKind
    ) -> Issued:
        if not self.signs(kind):
            raise CsrRefused(f"this platform's CA signs no {kind}")
        ca, key = await self._ca()
        now = clock.now()
        not_after = min(now + timedelta(days=self.days), ca.not_valid_after_utc)
        public = csr.public_key()
        usage = _key_usage(agreement=isinstance(public, ec.EllipticCurvePublicKey))
        builder = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(ca.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                critical=False,
            )
        )
        leaf = builder.sign(key, hashes.SHA256())
        pem = leaf.public_bytes(serialization.Encoding.PEM).decode()
        # The chain up to, not including, the root the charger holds as its CSMS root: our
        # CA is that root, so the chain is the leaf.
        return Issued(
            chain_pem=pem,
            pem=pem,
            serial=format(leaf.serial_number, "x"),
            not_after=leaf.not_valid_after_utc,
            fingerprint=fingerprint(leaf),
        )

    async def _ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        if self._loaded is None:
            self._loaded = await asyncio.to_thread(self._load_or_make)
        return self._loaded

    def _load_or_make(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        with _locked(self.key_path.with_name(self.key_path.name + ".lock")):
            if not self.key_path.exists():
                self._make()
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
            cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{self.key_path} holds no ECDSA key")
        return cert, key

    def _make(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.name),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{self.name} OCPP CA"),
            ]
        )
        now = clock.now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        # The certificate first: a key without its certificate would be a CA no one can use.
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )


def _key_usage(ca: bool = False, agreement: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=not ca and not agreement,
        data_encipherment=False,
        key_agreement=agreement,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
