"""OCPP security profiles at the door: the client certificate a charger presents (profile 3), the
lowest profile each charger may connect with, and the rule that decides between the two.

| profile | the charger authenticates with | transport |
|---|---|---|
| 1 | HTTP Basic (its password) | `ws://` or `wss://` |
| 2 | HTTP Basic (its password) | TLS (`wss://`, here or at a trusted proxy) |
| 3 | a client certificate whose subject CN is its id | mutual TLS |

The certificate's chain is checked where TLS ends (uvicorn with CPO_TLS_CLIENT_CA, or the
proxy in front of us); what reaches the app is a certificate that chain check let through, in
the ASGI TLS extension (`cpo.tls`). Here it is bound to the charger: OCPP (2.0.1 A00, the 1.6
security whitepaper) puts the charger's identity in the subject's CN, so a certificate names one
charger, and a charger presenting another one's is refused like a wrong password.

A station's `security_profile` is the lowest it may arrive with. It is raised when a charger
accepts an upgrade (`csms.commands.security.UpgradeSecurityProfile`) and never lowered over
OCPP; only the operator lowers it (the admin API's PATCH of the station)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import update
from sqlmodel import col, select

from csms.models import Station

if TYPE_CHECKING:
    from csms.store import Store

PROFILES = (1, 2, 3)


class UnreadableCertificate(ValueError):
    """What stands where the client certificate should be is no X.509 certificate."""


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """The certificate a charger presented, as far as the door needs it."""

    common_name: str | None
    subject: str  # RFC 4514, for the log
    not_before: datetime
    not_after: datetime

    def current(self, now: datetime) -> bool:
        return self.not_before <= now <= self.not_after


def client_certificate(scope: Mapping[str, Any]) -> ClientCertificate | None:
    """The charger's certificate from the ASGI TLS extension (its `client_cert_chain`, the
    charger's own certificate first); None when it presented none. Raises
    UnreadableCertificate."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return None
    try:
        cert = x509.load_pem_x509_certificate(str(chain[0]).encode("ascii"))
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        common_name = str(names[0].value) if names else None
        subject = cert.subject.rfc4514_string()
    except (ValueError, UnicodeError) as e:
        raise UnreadableCertificate(str(e)) from None
    return ClientCertificate(
        common_name, subject, cert.not_valid_before_utc, cert.not_valid_after_utc
    )


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    text: str
    reason: str  # the label of the rejected-connections metric
    guess: bool = False  # counts toward the back-off, as a wrong password does


def refusal(
    station_id: str,
    required: int,
    certificate: ClientCertificate | None,
    over_tls: bool,
    now: datetime | None = None,
) -> Refusal | None:
    """Why a charger that must connect with profile `required` or higher may not, as it came;
    None when it may go on (to its password, unless its certificate identified it)."""
    if certificate is not None:
        if certificate.common_name != station_id:
            return Refusal(403, "the client certificate is not this charger's", "certificate", True)
        if not certificate.current(now or datetime.now(UTC)):
            return Refusal(403, "the client certificate is not valid now", "certificate", True)
        return None
    if required >= 3:
        return Refusal(401, "this charger connects with a client certificate", "profile")
    if required == 2 and not over_tls:
        return Refusal(403, "this charger connects over TLS (wss://)", "profile")
    return None


async def required_profile(store: Store, station_id: str) -> int | None:
    """The lowest profile the station may connect with; None for a station we do not know."""
    async with store.reads() as session:
        found = await session.execute(
            select(Station.security_profile).where(col(Station.id) == station_id)
        )
        row = found.first()
    return None if row is None else int(row[0])


async def raise_profile(store: Store, station_id: str, profile: int) -> bool:
    """Records that the station connects with `profile` or higher from now on; False when it
    already had that or a higher one (a profile is never lowered here)."""
    async with store.database.begin() as session:
        result = await session.execute(
            update(Station)
            .where(col(Station.id) == station_id, col(Station.security_profile) < profile)
            .values(security_profile=profile)
        )
    return bool(getattr(result, "rowcount", 0))
