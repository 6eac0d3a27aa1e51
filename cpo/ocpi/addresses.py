"""Which network addresses outgoing OCPI requests may reach: public ones only, unless allowed.

Peers choose the URLs we call, so a peer could point us at the operator's own network (the
database, a metadata service, an admin port). Every address is checked where the connection is
made, on the address connected to: the resolver drops names' private addresses (so the error
is clear), and the socket factory refuses any that still arrives (IP literals, which aiohttp
does not resolve) right before connecting. A name that resolves to a public address once and
a private one later (DNS rebinding) meets the same check the second time.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class ForbiddenAddress(OSError):
    """A peer's address in a range the platform does not call (CPO_OCPI_ALLOW_PRIVATE_PEERS)."""


def why_forbidden(address: IPAddress) -> str | None:
    """The kind of a non-public address ("loopback", "private", …), None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return why_forbidden(embedded)
    for kind, hit in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared (CGNAT)", address in _CGNAT),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),
    ):
        if hit:
            return kind
    return None


def literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def check(host: str) -> None:
    """Raises ForbiddenAddress for an IP literal in a forbidden range (names: see PublicResolver)."""
    address = literal(host)
    if address is not None and (kind := why_forbidden(address)):
        raise ForbiddenAddress(f"{host} is a {kind} address")


class PublicResolver(AbstractResolver):
    """The system resolver, keeping only public addresses."""

    def __init__(self) -> None:
        self._resolver = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        kept = [r for r in found if (a := literal(r["host"])) is not None and not why_forbidden(a)]
        if not kept:
            kinds = sorted({why_forbidden(a) or "?" for r in found if (a := literal(r["host"]))})
            raise ForbiddenAddress(f"{host} resolves to {' and '.join(kinds) or 'no'} addresses")
        return kept

    async def close(self) -> None:
        await self._resolver.close()


def public_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """aiohttp's socket factory: the last look at the address, right before connecting."""
    family, kind, proto, _, address = addr_info
    ip = literal(str(address[0]))
    reason = why_forbidden(ip) if ip is not None else "unparsable"
    if reason:
        raise ForbiddenAddress(f"{address[0]} is a {reason} address")
    return socket.socket(family=family, type=kind, proto=proto)
