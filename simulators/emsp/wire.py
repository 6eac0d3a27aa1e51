"""OCPI transport details: timestamps, the envelope, token headers, ids, routing, links."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

VERSION = "2.2.1"  # the default version; specs.py says what each version changes
FUNCTIONAL = frozenset(
    {"locations", "sessions", "cdrs", "tariffs", "tokens", "commands", "chargingprofiles"}
)
TokenEncoding = Literal["base64", "raw"]

_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z?")
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?', re.IGNORECASE)


class OcpiError(Exception):
    """An OCPI exchange with the CPO failed; status_code is the OCPI code that describes it."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


def now() -> str:
    """The current time as OCPI wants it: RFC 3339, UTC, milliseconds, `Z`."""
    return timestamp(datetime.now(UTC))


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_datetime(value: str) -> datetime:
    """Parse an OCPI DateTime (UTC, `Z` or no offset); ValueError for anything else."""
    if not _DATETIME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an OCPI DateTime (RFC 3339 in UTC, ending in Z or without offset)"
        )
    moment = datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    fraction = value[19:].rstrip("Z").lstrip(".")
    return moment.replace(microsecond=int(fraction[:6].ljust(6, "0"))) if fraction else moment


def later(a: str, b: str) -> str:
    """The later of two OCPI DateTimes (the first when they cannot be compared)."""
    try:
        return b if parse_datetime(b) > parse_datetime(a) else a
    except ValueError:
        return a


def envelope(status_code: int, data: Any = None, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if data is not None:
        body["data"] = data
    body["status_code"] = status_code
    body["status_message"] = message or ("Success" if status_code == 1000 else "Error")
    body["timestamp"] = now()
    return body


def new_id() -> str:
    return str(uuid.uuid4())


def new_token() -> str:
    """A credentials token: printable, no spaces, well under the 64 characters allowed."""
    return uuid.uuid4().hex + uuid.uuid4().hex[:8]


def authorization(token: str, encoding: TokenEncoding) -> str:
    if encoding == "raw":
        return f"Token {token}"
    return "Token " + base64.b64encode(token.encode()).decode()


def read_authorization(header: str | None, known: set[str]) -> tuple[str, TokenEncoding] | None:
    """The known token an `Authorization: Token …` header carries, and how it was encoded."""
    if not header or not header.startswith("Token "):
        return None
    value = header[len("Token ") :]
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = None
    if decoded is not None and decoded in known:
        return decoded, "base64"
    if value in known:
        return value, "raw"
    return None


def routing_headers(
    from_party: tuple[str, str], to_party: tuple[str, str] | None
) -> dict[str, str]:
    headers = {"OCPI-from-country-code": from_party[0], "OCPI-from-party-id": from_party[1]}
    if to_party is not None:
        headers |= {"OCPI-to-country-code": to_party[0], "OCPI-to-party-id": to_party[1]}
    return headers


def party_of(headers: Any, side: Literal["from", "to"]) -> tuple[str, str] | None:
    """The (country_code, party_id) named by a side of the routing headers, if both are set."""
    country = headers.get(f"ocpi-{side}-country-code")
    party = headers.get(f"ocpi-{side}-party-id")
    return (country, party) if country and party else None


def same_party(a: tuple[str, str] | None, b: tuple[str, str] | None) -> bool:
    """CiString comparison of two (country_code, party_id) pairs."""
    return (
        a is not None
        and b is not None
        and (a[0].upper(), a[1].upper())
        == (
            b[0].upper(),
            b[1].upper(),
        )
    )


def next_link(header: str | None) -> str | None:
    if not header:
        return None
    match = _LINK.search(header)
    return match.group(1) if match else None


def join(base: str, *segments: str) -> str:
    """Join URL parts with exactly one slash between them (the spec's URLs forget or add one)."""
    url = base.rstrip("/")
    for segment in segments:
        if segment:
            url += "/" + segment.strip("/")
    return url
