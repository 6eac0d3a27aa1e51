"""What a fleet run does: its settings, their bounds, and the ids and tokens of its chargers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MAX_CHARGERS = 20_000
MAX_SECONDS = 3600.0
MAX_RATE = 10_000.0  # events per second across the fleet, for every settable rate


@dataclass(frozen=True)
class FleetConfig:
    """What the fleet does. Rates are events per second across the whole fleet."""

    url: str  # ws://host:port/ocpp; each charger appends /<its id>
    count: int = 100
    mix: float = 0.5  # share of OCPP 2.0.1 chargers; the rest speak 1.6J
    prefix: str = "FLEET-"  # charger ids are <prefix><number>
    password: str | None = None  # HTTP Basic, user = the charger id
    connect: str = "staggered"  # or "simultaneous"
    connect_rate: float = 100.0  # first connections per second when staggered
    heartbeat: float | None = None  # seconds; None: the Boot answer's interval; 0: back to back
    status_rate: float = 0.0  # connector status changes per second
    session_rate: float = 0.0  # transactions started per second
    session_seconds: float = 30.0
    meter_interval: float = 10.0  # seconds between meter values within a session
    id_tags: tuple[str, ...] = ()  # empty: one generated tag per charger
    disconnect_rate: float = 0.0  # random disconnects per second
    reconnect_delay: tuple[float, float] = (1.0, 5.0)  # random pause before reconnecting
    reboot_chance: float = 0.5  # share of reconnections that boot again
    storm_at: float | None = None  # seconds after the start: drop everyone, reconnect at once
    seconds: float = 60.0
    seed: int | None = None
    reply_timeout: float = 30.0
    connect_timeout: float = 10.0
    finish_timeout: float = 10.0  # at the end: time to stop open sessions and close

    def __post_init__(self) -> None:
        problems = []

        def within(name: str, value: float, low: float, high: float) -> None:
            if not low <= value <= high:  # NaN too
                problems.append(f"{name} must be between {low:g} and {high:g}, not {value:g}")

        if not self.url.startswith(("ws://", "wss://")):
            problems.append(f"url must be ws:// or wss://, not {self.url!r}")
        within("count", self.count, 1, MAX_CHARGERS)
        within("mix", self.mix, 0.0, 1.0)
        if not self.prefix.isprintable() or "/" in self.prefix or len(self.prefix) > 40:
            problems.append("prefix must be printable, without '/', at most 40 characters")
        if self.connect not in ("staggered", "simultaneous"):
            problems.append(f"connect must be staggered or simultaneous, not {self.connect!r}")
        within("connect_rate", self.connect_rate, 0.01, 100_000)
        if self.heartbeat is not None:
            within("heartbeat", self.heartbeat, 0.0, 86_400)
        for name in ("status_rate", "session_rate", "disconnect_rate"):
            within(name, getattr(self, name), 0.0, MAX_RATE)
        within("session_seconds", self.session_seconds, 0.01, MAX_SECONDS)
        within("meter_interval", self.meter_interval, 0.05, MAX_SECONDS)
        for tag in self.id_tags:
            if not 1 <= len(tag) <= 20 or not tag.isprintable():
                problems.append(f"id tag {tag!r}: 1 to 20 printable characters (OCPP 1.6 idTag)")
        low, high = self.reconnect_delay
        if not 0 <= low <= high <= 600:
            problems.append("reconnect_delay must be (low, high) with 0 <= low <= high <= 600")
        within("reboot_chance", self.reboot_chance, 0.0, 1.0)
        within("seconds", self.seconds, 0.1, MAX_SECONDS)
        if self.storm_at is not None and not 0 < self.storm_at < self.seconds:
            problems.append("storm_at must fall within the run (0 < storm_at < seconds)")
        within("reply_timeout", self.reply_timeout, 1.0, 300)  # checked every second
        within("connect_timeout", self.connect_timeout, 0.1, 300)
        within("finish_timeout", self.finish_timeout, 0.0, 300)
        if problems:
            raise ValueError("; ".join(problems))

    def charger_id(self, number: int) -> str:
        """The id of charger `number` (1-based)."""
        return f"{self.prefix}{number:0{max(4, len(str(self.count)))}d}"

    def id_tag(self, number: int) -> str:
        """The token charger `number` charges with."""
        if self.id_tags:
            return self.id_tags[(number - 1) % len(self.id_tags)]
        charger = self.charger_id(number)
        tag = f"TAG-{charger}"
        return tag if len(tag) <= 20 else "T" + hashlib.sha1(charger.encode()).hexdigest()[:19]
