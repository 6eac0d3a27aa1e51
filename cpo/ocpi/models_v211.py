"""OCPI 2.1.1 types every module's 2.1.1 objects share (2.2.1's are in models.py): its ASCII
strings, its DateTime sent without fractions of a second, DisplayText and BusinessDetails, and
what a stored object that 2.1.1 cannot express raises (NotIn211)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, StringConstraints

from cpo.ocpi.models import URL, Image, Wire, parse_datetime


class NotIn211(ValueError):
    """A stored 2.2.1 object that OCPI 2.1.1 cannot express at all (it is not sent)."""


def string(n: int, min_length: int = 0) -> StringConstraints:
    """2.1.1 string(n): printable ASCII (2.2.1 allows UTF-8), at most n characters."""
    return StringConstraints(min_length=min_length, max_length=n, pattern=r"^[\x20-\x7e]*$")


def _seconds(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


DateTime = Annotated[
    datetime, BeforeValidator(parse_datetime), PlainSerializer(_seconds, return_type=str)
]
"""ISO 8601 in UTC, read in any form 2.2.1 reads, sent as `2015-06-29T20:39:09Z`."""


def ascii_text(value: str, n: int) -> str:
    """`value` as 2.1.1 string(n): accents taken off (`Lüttich` -> `Luttich`), what has no ASCII
    form left out, cut to n characters."""
    decomposed = unicodedata.normalize("NFKD", value)
    kept = "".join(ch for ch in decomposed if "\x20" <= ch <= "\x7e")
    return kept[:n].rstrip() if len(kept) > n else kept


class DisplayText(Wire):
    language: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]
    text: Annotated[str, string(512)]


class BusinessDetails(Wire):
    name: Annotated[str, string(100, 1)]
    website: URL | None = None
    logo: Image | None = None


def display_texts_out(texts: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """2.2.1 DisplayTexts with 2.1.1 (ASCII) text; None for none."""
    if not texts:
        return None
    return [{"language": t["language"], "text": ascii_text(t["text"], 512)} for t in texts]


def business_details_out(details: dict[str, Any] | None) -> dict[str, Any] | None:
    if details is None:
        return None
    return details | {"name": ascii_text(details["name"], 100)}
