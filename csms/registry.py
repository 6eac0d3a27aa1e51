"""Which chargers are connected to this node: the connection registry (in memory; Redis later, same interface)."""

from __future__ import annotations

from typing import Protocol, TypeVar

T = TypeVar("T")


class Registry(Protocol[T]):
    def register(self, station_id: str, connection: T) -> T | None: ...
    def unregister(self, station_id: str, connection: T) -> bool: ...
    def get(self, station_id: str) -> T | None: ...
    def connected(self) -> list[str]: ...
    def __len__(self) -> int: ...


class MemoryRegistry(Registry[T]):
    def __init__(self) -> None:
        self._live: dict[str, T] = {}

    def register(self, station_id: str, connection: T) -> T | None:
        """Record the newest connection of a station; returns the one it replaces."""
        previous = self._live.get(station_id)
        self._live[station_id] = connection
        return previous

    def unregister(self, station_id: str, connection: T) -> bool:
        """Forget a connection, unless a newer one has replaced it already."""
        if self._live.get(station_id) is connection:
            del self._live[station_id]
            return True
        return False

    def get(self, station_id: str) -> T | None:
        return self._live.get(station_id)

    def connected(self) -> list[str]:
        return list(self._live)

    def __len__(self) -> int:
        return len(self._live)
