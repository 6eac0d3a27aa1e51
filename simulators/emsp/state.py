"""What the eMSP simulator remembers: requests received, violations, faults, its CPO peer, tokens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from simulators.emsp.wire import now, timestamp

FaultKind = Literal["slow", "http_500", "ocpi_3000", "refuse", "garbage"]
FAULT_KINDS: frozenset[str] = frozenset({"slow", "http_500", "ocpi_3000", "refuse", "garbage"})


@dataclass
class Received:
    """One request the simulator answered, as it came in and how it was answered."""

    method: str
    path: str
    module: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int
    ocpi_status: int | None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"at": timestamp(self.at)}


@dataclass
class Violation:
    """Something a peer sent that the OCPI version spoken does not allow."""

    module: str
    method: str
    path: str
    message: str
    body: Any = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Behind a hub: the client (country_code, party_id) the offending request was for.
    client: tuple[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"at": timestamp(self.at)}


@dataclass
class Fault:
    """A misbehaviour switched on for the next `count` matching requests (all when None)."""

    kind: str
    count: int | None = None
    delay: float = 0.0
    modules: frozenset[str] | None = None

    def matches(self, module: str) -> bool:
        return self.modules is None or module in self.modules


class Faults:
    def __init__(self) -> None:
        self.active: list[Fault] = []

    def add(
        self, kind: str, count: int | None, delay: float, modules: Iterable[str] | None
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; use one of {sorted(FAULT_KINDS)}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1 (or None for every request)")
        chosen = frozenset(modules) if modules is not None else None
        self.active.append(Fault(kind, count, delay, chosen))

    def take(self, module: str) -> tuple[float, str | None]:
        """Consume the faults matching one request: (delay before answering, failure or None)."""
        delay, failure = 0.0, None
        for fault in list(self.active):
            if not fault.matches(module):
                continue
            delay += fault.delay
            if fault.kind != "slow" and failure is None:
                failure = fault.kind
            if fault.count is not None:
                fault.count -= 1
                if fault.count == 0:
                    self.active.remove(fault)
        return delay, failure

    def clear(self) -> None:
        self.active.clear()


@dataclass
class CpoPeer:
    """The registered CPO: where it lives, what it offers, and the token we call it with."""

    versions_url: str
    version: str
    endpoints: dict[tuple[str, str], str]
    token: str
    roles: list[dict[str, Any]]
    credentials: dict[str, Any]

    def party(self) -> tuple[str, str] | None:
        """The party we address with OCPI-to-*: a 2.3.0 hub's `hub_party_id` (C cred), else
        the peer's first CPO role, else its first role."""
        hub = self.credentials.get("hub_party_id")
        if isinstance(hub, str) and len(hub) == 5:
            return hub[:2], hub[2:]
        roles = [r for r in self.roles if r.get("role") == "CPO"] or self.roles
        if not roles:
            return None
        return str(roles[0].get("country_code", "")), str(roles[0].get("party_id", ""))

    def parties(self) -> list[tuple[str, str]]:
        """Every party the peer speaks for: its roles (a hub's reachable parties) and the hub."""
        parties = [(str(r.get("country_code", "")), str(r.get("party_id", ""))) for r in self.roles]
        hub = self.credentials.get("hub_party_id")
        return parties + [(hub[:2], hub[2:])] if isinstance(hub, str) and len(hub) == 5 else parties

    def to_json(self) -> dict[str, Any]:
        return {
            "versions_url": self.versions_url,
            "version": self.version,
            "endpoints": [
                {"identifier": module, "role": role, "url": url}
                for (module, role), url in self.endpoints.items()
            ],
            "roles": self.roles,
        }


def make_token(
    uid: str,
    *,
    type: str = "RFID",
    whitelist: str = "ALLOWED",
    valid: bool = True,
    country_code: str = "NL",
    party_id: str = "EMS",
    contract_id: str | None = None,
    issuer: str = "Sim eMSP",
    last_updated: str | None = None,
    version: str = "2.2.1",
    **optional: Any,
) -> dict[str, Any]:
    """A valid OCPI Token of `version`; `optional` adds visual_number, language and the like.

    A 2.1.1 Token names no party and carries the contract id as `auth_id`."""
    if version == "2.1.1":
        return {
            "uid": uid,
            "type": type,
            "auth_id": contract_id or f"{country_code}-{party_id}-C{uid}"[:36],
            "issuer": issuer,
            "valid": valid,
            "whitelist": whitelist,
            **optional,
            "last_updated": last_updated or now(),
        }
    return {
        "country_code": country_code,
        "party_id": party_id,
        "uid": uid,
        "type": type,
        "contract_id": contract_id or f"{country_code}-{party_id}-C{uid}"[:36],
        "issuer": issuer,
        "valid": valid,
        "whitelist": whitelist,
        **optional,
        "last_updated": last_updated or now(),
    }
