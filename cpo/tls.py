"""The ASGI TLS extension of a charger's WebSocket: the client certificate it presented (security
profile 3), from our own TLS or from the header of a trusted proxy that ended TLS for us.

uvicorn puts no TLS extension in a WebSocket's scope; `cpo.server.OcppWebSocketProtocol` adds
the one this module builds, in the shape the ASGI spec gives it (`client_cert_chain`: PEM
strings, the client's own certificate first; Python's ssl hands over that one only).
`csms.security_profiles` reads it and binds the certificate to the charger."""

from __future__ import annotations

import base64
import binascii
import functools
import ssl
from typing import Any
from urllib.parse import unquote

from uvicorn.middleware.proxy_headers import _TrustedHosts

# What a proxy that ended TLS sets to the client certificate it verified: URL-encoded PEM
# (nginx: `proxy_set_header X-Client-Cert $ssl_client_escaped_cert;`) or base64 DER (HAProxy:
# `http-request set-header X-Client-Cert %[ssl_c_der,base64] if { ssl_c_used }`).
CLIENT_CERT_HEADER = b"x-client-cert"
HEADER_MAX = 16 * 1024  # a certificate is a few KiB; anything longer is not one

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


@functools.cache
def _trusted(forwarded_allow_ips: str) -> _TrustedHosts:
    # uvicorn's own reading of CPO_FORWARDED_ALLOW_IPS, so that the proxies trusted with a
    # client certificate are exactly those trusted with X-Forwarded-For and -Proto.
    return _TrustedHosts(forwarded_allow_ips)


def tls_extension(
    ssl_object: ssl.SSLObject | None,
    peer: tuple[str, int] | None,
    headers: list[tuple[bytes, bytes]],
    forwarded_allow_ips: str | list[str],
) -> dict[str, Any] | None:
    """The scope's `extensions["tls"]`: from our TLS when the connection came over it, else
    from CLIENT_CERT_HEADER when the peer is a trusted proxy; None when neither applies."""
    if ssl_object is not None:
        der = ssl_object.getpeercert(binary_form=True)  # only a certificate that verified
        chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
        return _extension(chain, _TLS_VERSIONS.get(ssl_object.version() or ""))
    allowed = (
        forwarded_allow_ips
        if isinstance(forwarded_allow_ips, str)
        else ",".join(forwarded_allow_ips)
    )
    if peer is None or peer[0] not in _trusted(allowed):
        return None  # anyone may send the header; only a trusted proxy is believed
    for name, value in headers:
        if name.lower() == CLIENT_CERT_HEADER and value:
            return _extension([_pem(value[:HEADER_MAX].decode("latin-1"))], None)
    return None


def _pem(header: str) -> str:
    text = unquote(header).strip()
    if text.startswith("-----BEGIN"):
        return text
    try:
        return ssl.DER_cert_to_PEM_cert(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return text  # neither: left for the reader to find unreadable


def _extension(chain: list[str], tls_version: int | None) -> dict[str, Any]:
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": tls_version,
        "cipher_suite": None,
    }
