"""Peers' URLs as they publish them: their origins, and the path segments we add to them.

An endpoint URL is used exactly as the peer published it, trailing slash and all; what we add
(an object's ids, a token's uid) is checked against OCPI's CiString rules and percent-encoded,
so that no id can step out of its segment (`/`, `..`) or into the query (`?`).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, urljoin

from yarl import URL


class BadUrl(ValueError):
    """A URL the platform will not call: not http(s), or without a host."""


class BadSegment(ValueError):
    """A value that cannot be one segment of an OCPI URL."""


def parse(url: str) -> URL:
    """The URL as the HTTP client will read it (one parser for checking and calling)."""
    try:
        parsed = URL(url.strip())
    except (ValueError, TypeError) as e:
        raise BadUrl(f"{url[:200]!r} is not a URL: {e}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise BadUrl(f"{url[:200]!r} is not an http(s) URL with a host")
    return parsed


def origin(url: str | URL) -> str:
    """`scheme://host:port`, with the port spelled out, the host in lower case."""
    parsed = url if isinstance(url, URL) else parse(url)
    host = (parsed.host or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parsed.scheme}://{host}:{parsed.port}"


def same_origin(url: str, origins: Iterable[str]) -> bool:
    try:
        return origin(url) in set(origins)
    except BadUrl:
        return False


def home_origins(versions_url: str | None, allowed: Iterable[str] = ()) -> frozenset[str]:
    """Where a party may be called: its versions URL's origin and those the operator allowed."""
    found = set(allowed)
    if versions_url:
        try:
            found.add(origin(versions_url))
        except BadUrl:
            pass
    return frozenset(found)


def segment(value: str, limit: int = 36, what: str = "id") -> str:
    """One path segment from an OCPI CiString: at most `limit` printable ASCII characters,
    never `.` or `..` (a client would fold those away), percent-encoded whole."""
    if not 0 < len(value) <= limit:
        raise BadSegment(f"{what} must have 1 to {limit} characters, not {len(value)}")
    if any(not " " <= c <= "~" for c in value):
        raise BadSegment(f"{what} {value[:40]!r} holds characters outside printable ASCII")
    if value in (".", ".."):
        raise BadSegment(f"{what} {value!r} cannot be a path segment")
    return quote(value, safe="")


def join(base: str, *segments: str) -> str:
    """The endpoint `base` as published, with encoded `segments` after exactly one slash."""
    return base + ("" if base.endswith("/") else "/") + "/".join(segments)


def follow(current: str, location: str) -> str:
    """Where a `Location` or `Link` (absolute or relative) points from `current`."""
    return urljoin(current, location.strip())
