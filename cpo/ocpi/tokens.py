"""Credentials tokens: made, hashed, and carried in `Authorization: Token …` (Base64 or raw)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from typing import Literal

Encoding = Literal["base64", "raw"]


def new_token() -> str:
    """43 URL-safe characters: within the spec's 64 printable non-space ASCII characters.

    Never with a leading "-": a token is pasted into command lines (`cpo-sim emsp --register
    URL TOKEN`, curl), where a leading dash reads as an option."""
    while (token := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return token


def token_hash(token: str) -> str:
    # Tokens are 256-bit random values: a plain SHA-256 resists guessing as well as a slow hash.
    return hashlib.sha256(token.encode()).hexdigest()


def is_token_text(value: str) -> bool:
    return 0 < len(value) <= 64 and all("\x21" <= ch <= "\x7e" for ch in value)


def authorization(token: str, encoding: Encoding = "base64") -> str:
    if encoding == "raw":
        return f"Token {token}"
    return "Token " + base64.b64encode(token.encode()).decode()


def presented(header: str | None) -> list[tuple[str, Encoding]]:
    """The tokens an Authorization header may carry: its Base64 reading first, then the raw text."""
    if not header:
        return []
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        return []
    found: list[tuple[str, Encoding]] = []
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):
        decoded = ""
    if is_token_text(decoded):
        found.append((decoded, "base64"))
    if is_token_text(value) and value != decoded:
        found.append((value, "raw"))
    return found
