"""`python -m bench [--only NAME] [benchmark options]`: run every benchmark in turn.

Each module in BENCHMARKS exposes `main(argv) -> int` (0 when the platform holds the figure the
benchmark holds it to). Options other than --only are passed to every benchmark run. Exits 1 if
any benchmark misses its figure or fails to run.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
import time
import traceback

BENCHMARKS = [  # in the order of issue 8's table
    "bench.connections",
    "bench.heartbeat",
    "bench.meter_values",
    "bench.latency",
    "bench.reconnect_storm",
    "bench.status_to_emsp",
    "bench.resync",
    "bench.locations_paging",
    "bench.command_round_trip",
    "bench.postgres",  # issue 17: the same figures on PostgreSQL
    "bench.scale_out",  # issue 17: 1 and 2 nodes on PostgreSQL + Redis
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", add_help=False)
    p.add_argument("--only", action="append", help="run only this benchmark (e.g. heartbeat)")
    p.add_argument("-h", "--help", action="store_true")
    args, rest = p.parse_known_args(argv)
    if args.help:
        print(__doc__)
        print("benchmarks: " + ", ".join(BENCHMARKS))
        return 0
    chosen = [
        b
        for b in BENCHMARKS
        if not args.only or b in args.only or b.rsplit(".", 1)[-1] in args.only
    ]
    if not chosen:
        print(f"no benchmark named {args.only}; there are {BENCHMARKS}", file=sys.stderr)
        return 2

    failed: list[str] = []
    for name in chosen:
        started = time.monotonic()
        try:
            code = importlib.import_module(name).main(rest)
        except SystemExit as e:  # argparse errors
            code = e.code if isinstance(e.code, int) else 1
        except Exception:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        print(
            f"[{name}: {'ok' if code == 0 else 'FAILED'} in {time.monotonic() - started:.0f} s]",
            file=sys.stderr,
        )
        # What the benchmark left behind goes before the next one runs its load from this
        # process: the load keeps what outlives a full collection frozen (csms.garbage), and
        # the connections benchmark's fleet (some 1.4 million objects in cycles, 2 GB) stayed
        # frozen and slowed the next benchmark's load (meter values 73 % after it, 81 % in
        # a process of its own; bench/RESULTS.md).
        gc.unfreeze()
        gc.collect()
        if code != 0:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
