"""How a site's power limit is shared: a pure function, no I/O.

Equal shares for every EVSE with a transaction; an EVSE that cannot draw its share (its own
maximum is lower) gets its maximum, and what it leaves is shared by the others again
(water-filling). Watts are whole numbers: a remainder of a few watts goes one each to the first
EVSEs in key order, so the shares add up to the limit exactly whenever the EVSEs could draw it."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def allocate(limit_w: int, evses: Mapping[K, int | None]) -> dict[K, int]:
    """Each EVSE's share of `limit_w` (W), given each EVSE's own maximum (None: unknown, so
    unbounded). Never negative, never above an EVSE's maximum, never more than the limit in
    all; EVSEs whose maximum is above their share get equal shares (within one watt)."""
    if limit_w < 0:
        raise ValueError("a power limit is not negative")
    order = sorted(evses, key=lambda k: (evses[k] is None, evses[k] or 0, repr(k)))
    shares: dict[K, int] = {}
    remaining = limit_w
    left = len(order)
    for key in order:
        cap = evses[key]
        if cap is None or cap > remaining // left:
            break  # this one and every later one (larger maxima) can take a full share
        shares[key] = max(cap, 0)
        remaining -= shares[key]
        left -= 1
    rest = sorted((k for k in order if k not in shares), key=repr)
    if rest:
        base, extra = divmod(remaining, len(rest))
        for i, key in enumerate(rest):
            shares[key] = base + (1 if i < extra else 0)
    return shares
