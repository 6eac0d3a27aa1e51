"""The load generator: thousands of simulated OCPP 1.6J / 2.0.1 chargers in one process, wire only.

Each charger is one task on a raw `websockets` client connection that sends hand-built OCPP-J
frames: boot, status, heartbeats at their interval, authorize / start / meter values / stop
cycles, random disconnects and reconnect storms. Every CALL waits for its reply (OCPP-J allows
one CALL in flight per direction); the CSMS's own CALLs are answered at once with a valid
CALLRESULT. Counters and latencies are kept in bounded structures however long the run, and
every wait is bounded by the run's end.

`Fleet.ceiling()` runs the same fleet against an in-process server that answers every CALL at
once: the rate the generator itself can drive, beside which a platform's figure is meaningful.

The package, one concern per module:

- `config`: what a run does (`FleetConfig`), its bounds, its chargers' ids and tokens;
- `wire`: OCPP-J frames, timestamps and opening a charger's connection (shared with
  `bench/harness.py`);
- `dialects`: each OCPP version's messages and its answers to the CSMS's CALLs;
- `draws`: each charger's reproducible random stream;
- `charger`: one charger's life, schedule, sessions and calls;
- `runner`: the `Fleet` that launches, watches, storms and stops them, and its ceiling;
- `echo`: the bare server the ceiling is measured against;
- `stats`: the run's counters and latencies, and its progress each second;
- `report`: the summary as readable lines.
"""

from __future__ import annotations

from simulators.fleet.config import MAX_CHARGERS, MAX_RATE, MAX_SECONDS, FleetConfig
from simulators.fleet.echo import ECHO_REPLY, echo_server
from simulators.fleet.report import summary_text
from simulators.fleet.runner import Fleet
from simulators.fleet.stats import ActionStats, FleetStats, Latencies, Progress, progress_line

__all__ = [
    "ECHO_REPLY",
    "MAX_CHARGERS",
    "MAX_RATE",
    "MAX_SECONDS",
    "ActionStats",
    "Fleet",
    "FleetConfig",
    "FleetStats",
    "Latencies",
    "Progress",
    "echo_server",
    "progress_line",
    "summary_text",
]
