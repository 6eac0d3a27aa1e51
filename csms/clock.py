"""Charger timestamps: parsed, bound-checked, and replaced by the receive time when implausible."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Chargers without a set clock send 1970 (or 2000) dates; some send local time marked Z.
EARLIEST = datetime(2015, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(hours=24)


def now() -> datetime:
    return datetime.now(UTC)


def parse(value: str | None, received: datetime | None = None) -> tuple[datetime, bool]:
    """The timestamp as UTC and whether it was suspect (missing, unreadable or out of bounds)."""
    received = received or now()
    if not value:
        return received, True
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return received, True
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    ts = ts.astimezone(UTC)
    if ts < EARLIEST or ts > received + FUTURE_SLACK:
        return received, True
    return ts, False


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
