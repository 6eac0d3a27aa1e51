"""csms.garbage: survivors of a full collection are frozen; a sweep frees their cycles; the
youngest generation is collected less often."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc, weakref
    from csms import garbage

    class Node:
        pass

    garbage.keep_long_lived_apart(sweep_every=3600)
    assert gc.get_threshold()[0] == garbage.YOUNG, "the youngest generation waits longer"
    node = Node()
    node.me = node  # a reference cycle, alive for now
    alive = weakref.ref(node)
    gc.collect()
    assert gc.get_freeze_count() > 0 and gc.is_tracked(node), "survivors are frozen"
    frozen = gc.get_freeze_count()
    del node
    gc.collect()
    assert alive() is not None, "a frozen cycle waits for a sweep"
    assert gc.get_freeze_count() >= frozen - 1

    garbage.keep_long_lived_apart(sweep_every=0)  # a sweep is due from now on
    gc.collect()  # a full collection: the frozen objects are walked by the next one
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None, "the sweep freed the cycle"
    print("ok")
    """
)


def test_survivors_are_frozen_and_a_sweep_frees_their_cycles() -> None:
    # In a process of its own: freezing the test run's objects would change every other test.
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
