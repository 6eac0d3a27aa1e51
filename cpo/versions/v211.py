"""OCPI 2.1.1 version details: an Endpoint names no role, as each 2.1.1 connection is between
one CPO and one eMSP, and each module's role follows from that."""

from __future__ import annotations

from typing import Any

# The interface a 2.1.1 eMSP offers for each module: it owns tokens and commands (SENDER), and
# receives what the CPO owns. Stored with the endpoints, so that 2.1.1 and later parties are
# looked up alike (`Party.endpoint`).
EMSP_ROLES = {"tokens": "SENDER", "commands": "SENDER", "credentials": "SENDER"}


def endpoints_in(endpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A 2.1.1 eMSP's endpoints, each with the role it plays in that module."""
    return [
        {"identifier": e["identifier"], "role": EMSP_ROLES.get(e["identifier"], "RECEIVER")}
        | {"url": e["url"]}
        for e in endpoints
    ]
