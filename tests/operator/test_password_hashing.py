"""The argon2id cost of password hashes: RFC 9106's 64 MiB and 3 passes unless the operator sets
another, never below OWASP's minimum, and hashes made at one cost still checked at another."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import extract_parameters
from pydantic import ValidationError

from cpo.settings import Settings
from csms import passwords


@pytest.fixture(autouse=True)
def default_cost() -> Iterator[None]:
    yield
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    passwords.configure_hashing(defaults.password_hash_memory_kib, defaults.password_hash_time_cost)


def test_the_default_cost_is_rfc_9106s_second_option() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    passwords.configure_hashing(settings.password_hash_memory_kib, settings.password_hash_time_cost)
    made = extract_parameters(passwords.hash_password("a charger's password"))
    assert (made.type.name, made.memory_cost, made.time_cost) == ("ID", 65536, 3)


def test_a_hash_made_at_one_cost_is_checked_at_another() -> None:
    passwords.configure_hashing(65536, 3)
    old = passwords.hash_password("a charger's password")
    passwords.configure_hashing(19 * 1024, 2)
    new = passwords.hash_password("a charger's password")
    assert extract_parameters(new).memory_cost == 19 * 1024
    assert passwords.verify_password(old, "a charger's password")
    assert passwords.verify_password(new, "a charger's password")
    assert not passwords.verify_password(old, "another password")


def test_no_account_is_checked_all_the_same_and_never_matches() -> None:
    passwords.configure_hashing(19 * 1024, 2)
    assert not passwords.verify_password(None, "no one has this password")
    assert not passwords.verify_password("not a hash", "anything")


@pytest.mark.parametrize(
    "setting",
    [
        {"password_hash_memory_kib": 1024},
        {"password_hash_time_cost": 1},
        {"password_hash_memory_kib": -1},
        {"password_hash_memory_kib": 1 << 40},
    ],
)
def test_a_cost_below_the_minimum_or_absurd_is_refused(setting: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, **setting)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        passwords.configure_hashing(1024, 1)
