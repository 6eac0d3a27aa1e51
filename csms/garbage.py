"""Garbage collection for a process that holds thousands of long-lived objects.

Python's collection of its oldest generation walks every object it tracks. A server holding
1,000 chargers tracks a great many, each connection's for as long as it stays connected, and
on a 2-core machine each such collection stopped the process for 120–240 ms (bench.scale_out
with a gc.callbacks probe: 7 of the server's 8 full collections in a run over 50 ms). Every
charger's message and every command that arrives meanwhile waits the pause out: it was the
p99 of the command round trip and of status → eMSP, on one node as much as on two.

So what survives a full collection is frozen (`gc.freeze`: left out of every later
collection), and the next full collections walk only what is newer. Frozen objects are still
freed by reference counting the moment nothing refers to them; only reference cycles among
them wait, until a sweep: the first full collection after `sweep_every` seconds walks
everything again (one pause of the old kind every few minutes instead of every few seconds
under load) and frees those cycles, and what survives it is frozen anew.

The youngest generation is collected every YOUNG new objects (net of those freed) rather than
Python's 700: a charger's message lives until its group commit has committed (tens of ms),
and at 700 the server ran 5,362 collections in a meter-values run, 0.97 s of it (5 % of the
server), walking each message's objects several times before they died; at 20,000, 63
collections and 0.06 s (meter values 80-86 % of the bare library -> 84-87 %; ADR 040).
"""

from __future__ import annotations

import gc
import time
from typing import Any

SWEEP_EVERY = 600.0  # seconds between full collections that walk the frozen objects too
OLDEST = 2  # the generation a full collection collects
YOUNG = 20_000  # new objects (net of those freed) between collections of the youngest

_sweep_every = SWEEP_EVERY
_swept_at = time.monotonic()


def keep_long_lived_apart(sweep_every: float = SWEEP_EVERY) -> None:
    """For a long-running process, once at its start: what exists now (modules, settings)
    and whatever survives a full collection from now on is frozen; every `sweep_every`
    seconds a full collection walks it all again; the youngest generation is collected every
    YOUNG new objects."""
    global _sweep_every
    _sweep_every = sweep_every
    if _after_collection not in gc.callbacks:
        gc.callbacks.append(_after_collection)
    gc.set_threshold(YOUNG, *gc.get_threshold()[1:])
    gc.freeze()


def _after_collection(phase: str, info: dict[str, Any]) -> None:
    global _swept_at
    if phase != "stop" or info["generation"] != OLDEST:
        return
    now = time.monotonic()
    if now - _swept_at >= _sweep_every:
        _swept_at = now
        gc.unfreeze()  # the next full collection walks everything, cycles among them go
    else:
        gc.freeze()
