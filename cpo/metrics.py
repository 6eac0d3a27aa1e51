"""Prometheus metrics of the OCPI side, and the scrape that joins the push worker's and the outbox's.

The push worker (cpo.push.worker) is a process of its own: it counts its pushes in
prometheus-client's multiprocess files, in a directory the server made for it. The server
keeps its own figures in memory, since every OCPP message counts and a file-backed value
costs it about twice as much, and adds the worker's to them when scraped: one series per
name and labels, whichever process counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

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


@dataclass(frozen=True)
class Backlog:
    """One party's outbox as it stands: rows waiting to be sent, rows refused for good."""

    party_id: int
    pending: int
    failed: int
    oldest_pending_seconds: float  # 0 when nothing is pending


def exposition(worker_dir: str | None, backlog: Sequence[Backlog] | None) -> bytes:
    """The text of /metrics: this process's figures with the worker's in `worker_dir` added,
    and the outbox backlog when it could be read."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Joined(worker_dir))
    if backlog is not None:
        registry.register(_Outbox(backlog))
    return generate_latest(registry)


class _Joined:
    """This process's registry and the worker's files as one: samples with the same name and
    labels are added (counters, histograms and summed gauges all add up)."""

    def __init__(self, worker_dir: str | None) -> None:
        self.worker_dir = worker_dir

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        where: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], int]] = {}
        for family in self._sources():
            known = families.setdefault(family.name, family)
            index = where.setdefault(family.name, {})
            if known is family:
                index.update({_key(s.name, s.labels): i for i, s in enumerate(family.samples)})
                continue
            for sample in family.samples:
                at = index.get(_key(sample.name, sample.labels))
                if at is None:
                    index[_key(sample.name, sample.labels)] = len(known.samples)
                    known.samples.append(sample)
                elif not sample.name.endswith("_created"):
                    mine = known.samples[at]
                    known.samples[at] = mine._replace(value=mine.value + sample.value)
        yield from families.values()

    def _sources(self) -> Iterable[Metric]:
        yield from REGISTRY.collect()
        if self.worker_dir is not None:
            try:
                worker = MultiProcessCollector(None, path=self.worker_dir)  # type: ignore[no-untyped-call]
            except ValueError:  # the directory is gone: the worker is stopping
                return
            yield from worker.collect()  # type: ignore[no-untyped-call]


def _key(name: str, labels: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


class _Outbox:
    """The backlog gauges, from figures read from the database for this scrape."""

    def __init__(self, backlog: Sequence[Backlog]) -> None:
        self.backlog = backlog

    def collect(self) -> Iterator[Metric]:
        pending = GaugeMetricFamily(
            "cpo_push_outbox_pending", "Objects waiting to be pushed to a party", labels=["party"]
        )
        oldest = GaugeMetricFamily(
            "cpo_push_outbox_oldest_pending_seconds",
            "Age of the oldest object waiting to be pushed to a party (0: none waits)",
            labels=["party"],
        )
        failed = GaugeMetricFamily(
            "cpo_push_outbox_failed",
            "Objects a party refused for good, waiting for the operator",
            labels=["party"],
        )
        for row in self.backlog:
            party = [str(row.party_id)]
            pending.add_metric(party, row.pending)
            oldest.add_metric(party, row.oldest_pending_seconds)
            failed.add_metric(party, row.failed)
        yield from (pending, oldest, failed)
