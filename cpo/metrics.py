"""Prometheus metrics of the OCPI side."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

OCPI_REQUESTS = Counter(
    "cpo_ocpi_requests_total",
    "OCPI requests by direction (in: served, out: sent), module and OCPI status (none: no envelope)",
    ["direction", "module", "status"],
)
OCPI_LATENCY = Histogram(
    "cpo_ocpi_request_seconds",
    "Time to serve an OCPI request (in) or to get a peer's answer (out)",
    ["direction", "module"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def observe(direction: str, module: str, status: int | None, seconds: float) -> None:
    OCPI_REQUESTS.labels(direction, module, str(status) if status else "none").inc()
    OCPI_LATENCY.labels(direction, module).observe(seconds)
