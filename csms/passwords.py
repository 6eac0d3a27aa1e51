"""Charger passwords (Basic auth, security profiles 1 and 2), stored as argon2 hashes."""

from __future__ import annotations

import asyncio
import hashlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# A charger reconnects often with the same password; argon2 is slow on purpose, so a
# successful check is remembered (by a digest of hash and password, never the password).
_verified: set[bytes] = set()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _key(password_hash: str, password: str) -> bytes:
    return hashlib.sha256(f"{password_hash}\0{password}".encode()).digest()


async def verify(password_hash: str, password: str) -> bool:
    key = _key(password_hash, password)
    if key in _verified:
        return True
    try:
        await asyncio.to_thread(_hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if len(_verified) > 100_000:
        _verified.clear()
    _verified.add(key)
    return True
