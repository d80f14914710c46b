"""Password hashing (argon2id at ASVS 5.0 cost) and the password policy."""

from __future__ import annotations

from argon2 import Type, extract_parameters

from accounts.passwords import (
    _hasher_for,
    common_passwords,
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)
from config import Config


def _meets_asvs(t: int, m_kib: int, p: int) -> bool:
    # ASVS 5.0 Appendix C: argon2id t=1 -> m >= 46 MiB, t=2 -> m >= 19 MiB, t>=3 -> m >= 12 MiB
    minimum = {1: 46 * 1024, 2: 19 * 1024}.get(t, 12 * 1024)
    return m_kib >= minimum and p >= 1


def test_production_hash_parameters_read_back_meet_asvs_minimums():
    hasher = _hasher_for(Config.ARGON2_TIME_COST, Config.ARGON2_MEMORY_COST, Config.ARGON2_PARALLELISM)
    stored = hasher.hash("a long enough passphrase")
    params = extract_parameters(stored)
    assert stored.startswith("$argon2id$")
    assert params.type is Type.ID
    assert (params.time_cost, params.memory_cost, params.parallelism) == (3, 65536, 4)
    assert _meets_asvs(params.time_cost, params.memory_cost, params.parallelism)


def test_hash_password_uses_argon2id_and_verifies():
    stored = hash_password("tulip-garden-lantern")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "tulip-garden-lantern")
    assert not verify_password(stored, "tulip-garden-lanterN")
    assert not verify_password("not-a-hash", "x")
    assert not needs_rehash(stored)


def test_hash_made_with_weaker_parameters_needs_rehash():
    weak = _hasher_for(1, 8192 // 2, 1).hash("tulip-garden-lantern")
    assert needs_rehash(weak)


def test_seven_characters_refused_eight_accepted():
    assert password_problems("Zq7#kP2")
    assert password_problems("Zq7#kP2x") == []


def test_long_password_allowed_and_not_truncated():
    long_pw = "correct horse battery staple " * 5  # 145 chars
    assert password_problems(long_pw) == []
    stored = hash_password(long_pw)
    assert verify_password(stored, long_pw)
    assert not verify_password(stored, long_pw[:-1])


def test_no_composition_rules():
    assert password_problems("lanternsbytheriver") == []  # no digits, no upper case, no symbols


def test_common_passwords_refused_case_insensitively():
    for pw in ("password1234", "PASSWORD1234", "qwertyuiop", "woaini1314", "5201314", "12345678", "1qaz2wsx"):
        assert password_problems(pw), pw


def test_common_list_is_substantial():
    assert len(common_passwords()) >= 2500


def test_password_containing_email_local_part_refused():
    assert password_problems("zhangsan-2024!", email="zhangsan@example.cn")
    assert password_problems("zhangsan-2024!", email="lisi@example.cn") == []
