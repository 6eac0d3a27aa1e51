"""A simulated charger's certificates: the key and CSR it makes for SignCertificate, the check
of the certificate it gets back (CertificateSigned), and the roots it holds, named by OCPP's
CertificateHashData (GetInstalledCertificateIds, DeleteCertificate)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Held:
    """What the charger holds: roots by its version's certificate type, and its own
    certificate with the key it made for it."""

    roots: dict[str, list[str]] = field(default_factory=dict)
    key: ec.EllipticCurvePrivateKey | None = None  # the key of the CSR last sent
    chain: str | None = None  # the certificate (chain) it was signed, PEM
    refused: list[str] = field(default_factory=list)  # why CertificateSigned was Rejected


def csr(key: ec.EllipticCurvePrivateKey, common_name: str, organization: str | None) -> str:
    names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        names.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(names))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def check_signed(chain: str, key: ec.EllipticCurvePrivateKey | None, roots: list[str]) -> str:
    """Why the certificate cannot be taken (an empty string: it can): it must carry the key
    the charger made, be valid now, and be issued by one of `roots`."""
    try:
        leaf = x509.load_pem_x509_certificates(chain.encode())[0]
    except ValueError as e:
        return f"not a PEM certificate ({e})"
    if key is None or leaf.public_key() != key.public_key():
        return "not the key of the last CSR"
    now = datetime.now(UTC)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        return "not valid now"
    for pem in roots:
        root = x509.load_pem_x509_certificate(pem.encode())
        try:
            leaf.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return ""
    return "issued by no root the charger holds"


def readable(pem: str) -> bool:
    try:
        x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return False
    return True


def hash_data(pem: str) -> dict[str, str]:
    """A root's CertificateHashData (SHA256): a root is its own issuer."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    public = cert.public_key()
    # The issuer key hash is over the key's bit string alone, as OCSP has it.
    if isinstance(public, ec.EllipticCurvePublicKey):
        key = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    else:
        key = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
        "issuer_key_hash": hashlib.sha256(key).hexdigest(),
        "serial_number": format(cert.serial_number, "x"),
    }


def same(a: dict[str, str], b: dict[str, str]) -> bool:
    return all(str(a[k]).lower() == str(b[k]).lower() for k in a)
