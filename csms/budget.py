"""How much of the database one charger may fill: byte budgets per minute, and the cuts that
keep what a charger sends within them."""

from __future__ import annotations

import time
from typing import Any

import orjson

MINUTE = 60.0


class MinuteBudget:
    """Bytes each charger may have stored in the current minute.

    A window per minute of the monotonic clock, not a sliding one: one dict for every charger,
    emptied when the minute turns, so an idle charger costs nothing and the dict never holds
    more than the chargers heard from in one minute. A charger may spend `per_minute` in each
    window, so at most twice that in any 60 seconds that straddle two windows. Kept by station
    id, not by connection, so reconnecting does not refill it.
    """

    __slots__ = ("per_minute", "_window", "_spent")

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._window = -1
        self._spent: dict[str, int] = {}

    def spend(self, station_id: str, amount: int) -> bool:
        """Takes `amount` bytes from the charger's budget if it has them; False if not (and
        nothing is taken)."""
        window = int(time.monotonic() // MINUTE)
        if window != self._window:
            self._window, self._spent = window, {}
        spent = self._spent.get(station_id, 0) + amount
        if spent > self.per_minute:
            return False
        self._spent[station_id] = spent
        return True


def utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def cut_text(text: str, limit: int) -> str:
    """`text` cut to its first `limit` bytes (whole characters), with a note of its size."""
    size = utf8_size(text)
    if size <= limit:
        return text
    kept = text.encode()[:limit].decode("utf-8", errors="ignore")
    return f"{kept}…[cut by the CSMS: {size} bytes, the first {utf8_size(kept)} kept]"


def json_size(data: Any) -> int:
    return len(orjson.dumps(data, default=str))


def cut_fields(data: dict[str, Any], limit: int) -> dict[str, Any]:
    """`data` with its largest values replaced by a note of their size, largest first, until
    its JSON takes at most `limit` bytes (or nothing large is left to replace)."""
    sizes = {key: json_size(value) for key, value in data.items()}
    total = json_size(data)
    out = dict(data)
    for key in sorted(sizes, key=sizes.__getitem__, reverse=True):
        if total <= limit or sizes[key] <= 64:
            break
        note = f"[cut by the CSMS: {sizes[key]} bytes]"
        out[key] = note
        total -= sizes[key] - json_size(note)
    return out
