"""Prometheus metrics of the OCPP side."""

from __future__ import annotations

from functools import lru_cache

from prometheus_client import Counter, Gauge, Histogram

CONNECTED = Gauge(
    "cpo_ocpp_connected_chargers",
    "Chargers connected to this node",
    ["ocpp_version"],
    multiprocess_mode="livesum",  # where processes share files: theirs together, live ones only
)
MESSAGES = Counter(
    "cpo_ocpp_messages_total",
    "OCPP messages by direction, action and result",
    ["direction", "action", "result"],
)
HANDLER_LATENCY = Histogram(
    "cpo_ocpp_handler_seconds",
    "Time from receiving a charger's CALL to sending the reply",
    ["action"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REJECTED_CONNECTIONS = Counter(
    "cpo_ocpp_rejected_connections_total", "WebSocket upgrades refused", ["reason"]
)
STORED_CUT = Counter(
    "cpo_ocpp_stored_cut_total",
    "Frames, events and meter samples stored in part or not at all: larger than a single one"
    " may be (reason=size) or past the charger's bytes a minute (reason=budget)",
    ["store", "reason"],
)

PASSWORD_CHECKS = Counter(
    "cpo_ocpp_password_checks_total",
    "Charger password checks by result: argon2 ran (ok, failed), the password was remembered"
    " (cached), or the address was refused before argon2 ran (backoff)",
    ["result"],
)

CERTIFICATES_EXPIRING = Gauge(
    "cpo_ocpp_certificates_expiring",
    "Chargers' certificates the platform issued (each charger's newest) that are still valid"
    " and expire within CPO_CERTIFICATE_WARN_DAYS",
    multiprocess_mode="max",
)


# The children of the per-message metrics, looked up once per label set: `labels()` takes a lock
# and builds a key on every call, and every OCPP message counts twice.
@lru_cache(maxsize=4096)
def messages(direction: str, action: str, result: str) -> Counter:
    return MESSAGES.labels(direction, action, result)


@lru_cache(maxsize=512)
def handler_latency(action: str) -> Histogram:
    return HANDLER_LATENCY.labels(action)


@lru_cache(maxsize=16)
def stored_cut(store: str, reason: str) -> Counter:
    return STORED_CUT.labels(store, reason)


@lru_cache(maxsize=8)
def password_checks(result: str) -> Counter:
    return PASSWORD_CHECKS.labels(result)
