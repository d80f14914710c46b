"""Unified social credit codes (GB 32100-2015): valid codes pass, every single-character error fails."""

from __future__ import annotations

import pytest

from accounts.uscc import ALPHABET, is_valid_uscc, make_uscc, uscc_problem

KNOWN_VALID = ["91350100M000100Y43", "91110000802100433B"]
GENERATED = [make_uscc(n) for n in (1, 30, 31, 961, 123456, 810301)] + [
    make_uscc(810101, "11321000"),
    make_uscc(810001, "12321000"),
]


@pytest.mark.parametrize("code", KNOWN_VALID + GENERATED)
def test_valid_codes_pass(code):
    assert is_valid_uscc(code)
    assert uscc_problem(code) is None


def test_lower_case_and_spaces_are_normalized():
    assert is_valid_uscc(" 91350100m000100y43 ")


@pytest.mark.parametrize("code", ["91350100M000100Y43", make_uscc(42), make_uscc(810701, "11321000")])
def test_every_single_character_corruption_fails(code):
    assert is_valid_uscc(code)
    tried = 0
    for position in range(18):
        for ch in ALPHABET:
            if ch == code[position]:
                continue
            corrupted = code[:position] + ch + code[position + 1 :]
            assert not is_valid_uscc(corrupted), (position, ch, corrupted)
            assert uscc_problem(corrupted) is not None
            tried += 1
    assert tried == 18 * 30


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000100Y433", "18 characters"),
        ("91350100M000100I43", "capital letters"),
        ("91350100M000100Y44", "check character"),
    ],
)
def test_problems_name_the_specific_mistake(code, fragment):
    assert fragment in uscc_problem(code)
