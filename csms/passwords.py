"""Charger passwords (Basic auth, security profiles 1 and 2): argon2 hashes, checked a few at a
time, with a back-off for the addresses and stations that keep failing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from csms import metrics

# RFC 9106's second recommended option (argon2id, 3 passes, 64 MiB), argon2-cffi's default;
# `configure_hashing` sets another cost (the operator's CPO_PASSWORD_HASH_* settings).
_hasher = PasswordHasher()
_nobody: str | None = None

# The least cost allowed: OWASP's minimum for argon2id (19 MiB, 2 passes).
MEMORY_KIB_MIN = 19 * 1024
TIME_COST_MIN = 2


def configure_hashing(memory_kib: int, time_cost: int) -> None:
    """The argon2id cost of new hashes (a hash keeps its own: older ones still verify)."""
    global _hasher, _nobody
    if memory_kib < MEMORY_KIB_MIN or time_cost < TIME_COST_MIN:
        raise ValueError(f"argon2 below {MEMORY_KIB_MIN} KiB or {TIME_COST_MIN} passes")
    if (_hasher.memory_cost, _hasher.time_cost) != (memory_kib, time_cost):
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        _nobody = None


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one hashed. None (no such account) is checked all the same,
    against a hash of no one's password made at the current cost, so that the time taken does
    not tell which accounts exist."""
    global _nobody
    checked = password_hash
    if checked is None:
        checked = _nobody = _nobody or _hasher.hash("no one has this password")
    try:
        matched = bool(_hasher.verify(checked, password))
    except (VerificationError, InvalidHashError):
        return False
    return matched and password_hash is not None


FREE_FAILURES = 5  # failures of an address or a station before its back-off starts
ADDRESS_BACKOFF_MAX = 300.0  # seconds: the longest an address is refused
STATION_DELAY_MAX = 2.0  # seconds: the longest a station's checks are delayed
FORGET_AFTER = 900.0  # seconds without a failure after which failures are forgotten
KEYS_MAX = 100_000  # addresses, stations and remembered passwords kept, each


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Outcome(Enum):
    OK = "ok"
    WRONG = "wrong"  # 401
    BACKOFF = "backoff"  # 429: refused without a check


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    retry_after: float = 0.0  # seconds, for BACKOFF
    matched: str | None = None  # for OK: the hash the password matched


@dataclass(slots=True)
class _Record:
    failures: int
    last: float  # monotonic time of the last failure
    until: float = 0.0  # held off until (monotonic)


class Failures:
    """Recent failures per key (an address, a station) and how long each key is held off: after
    `free` failures, `base` seconds doubling with each further failure up to `cap`. A key
    without a failure for FORGET_AFTER seconds starts afresh; at most KEYS_MAX keys are kept
    (the least recently failed go first)."""

    def __init__(self, free: int, base: float, cap: float) -> None:
        self.free, self.base, self.cap = free, base, cap
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def held(self, key: str) -> float:
        """Seconds `key` is held off from now (0: not at all)."""
        record = self._records.get(key)
        return max(0.0, record.until - time.monotonic()) if record else 0.0

    def fail(self, key: str) -> None:
        now = time.monotonic()
        record = self._records.pop(key, None)
        if record is None or now - record.last > FORGET_AFTER:
            record = _Record(0, now)
        record.failures += 1
        record.last = now
        if record.failures > self.free:
            hold = min(self.base * 2 ** (record.failures - self.free - 1), self.cap)
            record.until = now + hold
        self._records[key] = record
        if len(self._records) > KEYS_MAX:
            self._records.popitem(last=False)

    def forget(self, key: str) -> None:
        self._records.pop(key, None)


class PasswordChecks:
    """Checks a charger's password against its argon2 hash, at a bounded cost.

    argon2 is slow on purpose (about a tenth of a second and 64 MiB each), so a flood of wrong
    passwords must not run it without bound: at most `concurrency` checks run at once (half
    the cores: the other half serve the chargers already connected), in threads of their own
    (the default executor also resolves the eMSPs' host names).

    An address that failed FREE_FAILURES times is refused at once (429) for a while that
    doubles with each further failure, up to ADDRESS_BACKOFF_MAX. A station that failed that
    often has its checks delayed, never refused, and by at most STATION_DELAY_MAX: its real
    charger must still get in while someone elsewhere guesses its password. A password that
    was right before is remembered (a digest of hash and password, never the password) and
    passes without argon2 and without any back-off, so chargers that have connected since the
    start do not notice an attack at all.
    """

    def __init__(self, concurrency: int | None = None) -> None:
        concurrency = concurrency or max(1, _cores() // 2)
        self._turns = asyncio.Semaphore(concurrency)
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="argon2")
        self.addresses = Failures(FREE_FAILURES, 1.0, ADDRESS_BACKOFF_MAX)
        self.stations = Failures(FREE_FAILURES, 0.25, STATION_DELAY_MAX)
        # One entry per station whose password was right: bounded by the stations there are.
        self._right: OrderedDict[str, bytes] = OrderedDict()

    async def check(
        self, station_id: str, address: str, password_hash: str | list[str], password: str
    ) -> Verdict:
        """OK when `password` matches the hash, or one of them (a current and a new one while
        a rotation waits), naming which."""
        hashes = [password_hash] if isinstance(password_hash, str) else password_hash
        keys = {hashlib.sha256(f"{h}\0{password}".encode()).digest(): h for h in hashes}
        if (hit := keys.get(self._right.get(station_id, b""))) is not None:
            self._right.move_to_end(station_id)
            metrics.password_checks("cached").inc()
            return Verdict(Outcome.OK, matched=hit)
        if held := self.addresses.held(address):
            return self._backoff(held)
        if delay := self.stations.held(station_id):
            await asyncio.sleep(delay)
        async with self._turns:
            # Failures of the same address may have come in while this one waited its turn.
            if held := self.addresses.held(address):
                return self._backoff(held)
            loop = asyncio.get_running_loop()
            right = None
            for candidate in hashes:
                if await loop.run_in_executor(self._threads, verify_password, candidate, password):
                    right = candidate
                    break
        if right is None:
            metrics.password_checks("failed").inc()
            self.addresses.fail(address)
            self.stations.fail(station_id)
            return Verdict(Outcome.WRONG)
        metrics.password_checks("ok").inc()
        self.stations.forget(station_id)
        self._right[station_id] = next(k for k, h in keys.items() if h == right)
        self._right.move_to_end(station_id)
        if len(self._right) > KEYS_MAX:
            self._right.popitem(last=False)
        return Verdict(Outcome.OK, matched=right)

    def failed(self, station_id: str, address: str) -> None:
        """A login refused without a password to check (a client certificate of another
        charger, csms.security_profiles): it counts toward the same back-offs."""
        metrics.password_checks("failed").inc()
        self.addresses.fail(address)
        self.stations.fail(station_id)

    @staticmethod
    def _backoff(held: float) -> Verdict:
        metrics.password_checks("backoff").inc()
        return Verdict(Outcome.BACKOFF, held)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
