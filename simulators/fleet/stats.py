"""The run's accounting: counters, reply latencies in bounded buckets, and the progress of each second."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_KEYS = 40  # distinct error texts / actions kept by name; the rest are lumped together
OTHER = "(other)"

_LOG_BASE = math.log(1.02)  # latency buckets 2 % wide


class Latencies:
    """Reply latencies in logarithmic buckets 2 % wide: bounded memory however long the run."""

    __slots__ = ("buckets", "count", "max")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        micros = seconds * 1e6
        index = int(math.log(micros) / _LOG_BASE) if micros > 1.0 else 0
        buckets = self.buckets
        buckets[index] = buckets.get(index, 0) + 1
        self.count += 1
        if seconds > self.max:
            self.max = seconds

    def merge(self, other: Latencies) -> None:
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n
        self.count += other.count
        self.max = max(self.max, other.max)

    def quantile(self, q: float) -> float | None:
        """The q-quantile in seconds (the middle of its bucket, never above the maximum)."""
        if not self.count:
            return None
        rank, seen = q * self.count, 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(self.max, math.exp((index + 0.5) * _LOG_BASE) / 1e6)
        return self.max

    def summary_ms(self) -> dict[str, float | None]:
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 3)

        return {
            "p50": ms(self.quantile(0.50)),
            "p90": ms(self.quantile(0.90)),
            "p99": ms(self.quantile(0.99)),
            "max": ms(self.max if self.count else None),
        }


class ActionStats:
    """CALLs of one action that the chargers sent, and what became of them."""

    __slots__ = ("calls", "results", "errors", "timeouts", "lost", "latency")

    def __init__(self) -> None:
        self.calls = self.results = self.errors = self.timeouts = self.lost = 0
        self.latency = Latencies()

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "results": self.results,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "connection_errors": self.lost,
            "latency_ms": self.latency.summary_ms(),
        }


def _count(table: dict[str, int], key: str, n: int = 1) -> None:
    if key not in table and len(table) >= MAX_KEYS:
        key = OTHER
    table[key] = table.get(key, 0) + n


class FleetStats:
    """Every counter of a run. Plain attributes: the chargers bump them on the hot path."""

    def __init__(self) -> None:
        self.actions: dict[str, ActionStats] = {}
        self.replies = 0  # CALLRESULTs and CALLERRORs to our CALLs: "messages" in msg/s
        self.window = Latencies()  # since the last tick; merged into `latency` every second
        self.latency = Latencies()
        self.error_texts: dict[str, int] = {}
        self.late_replies = 0  # replies that came after their CALL timed out
        self.bad_frames = 0
        self.server_calls: dict[str, int] = {}  # the CSMS's CALLs, answered
        self.frames_sent = self.frames_received = 0
        self.connect_attempts = self.connects = self.reconnects = 0
        self.refused_load = self.failed_other = 0
        self.connect_failures: dict[str, int] = {}
        self.boots: dict[str, int] = {}
        self.disconnects: dict[str, int] = {}  # why: random, storm, reset, server
        self.storms = 0
        self.status_changes = 0
        self.sessions: dict[str, int] = dict.fromkeys(
            ("started", "ended", "refused", "failed", "interrupted", "skipped"), 0
        )

    def action(self, name: str) -> ActionStats:
        stats = self.actions.get(name)
        if stats is None:
            stats = self.actions[name] = ActionStats()
        return stats

    def roll(self) -> Latencies:
        """The latencies since the last roll; from now on they count in the run's total."""
        window, self.window = self.window, Latencies()
        self.latency.merge(window)
        return window

    def totals(self) -> dict[str, int]:
        actions = self.actions.values()
        return {
            "calls": sum(a.calls for a in actions),
            "results": sum(a.results for a in actions),
            "errors": sum(a.errors for a in actions),
            "timeouts": sum(a.timeouts for a in actions),
            "connection_errors": sum(a.lost for a in actions),
        }


@dataclass(frozen=True)
class Progress:
    """The fleet at one tick (every second)."""

    elapsed: float
    count: int
    connected: int
    online: int  # connected with an accepted boot
    rate: float  # replies to our CALLs in the last second
    calls: int
    errors: int  # CALLERRORs, timeouts and connection losses so far
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    sessions: int  # open now


def progress_line(p: Progress) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    return (
        f"[{p.elapsed:6.1f}s] connected {p.connected}/{p.count} (booted {p.online})"
        f" | {p.rate:8.1f} msg/s | errors {p.errors}"
        f" | p50 {ms(p.p50_ms)} p90 {ms(p.p90_ms)} p99 {ms(p.p99_ms)} ms"
        f" | sessions {p.sessions}"
    )
