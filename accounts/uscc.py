"""Unified social credit code (统一社会信用代码), GB 32100-2015.

18 characters from a 31-character alphabet (digits and upper-case letters without
I, O, Z, S, V): registration authority (1), organization type (1), administrative
division (6), organization code (9), check character (1). The check character is
31 - (sum of value(c_i) * 3^(i-1) mod 31, for i = 1..17) mod 31, and 31 maps to 0.
Because 31 is prime and every weight is non-zero modulo 31, any single wrong character
changes the sum and is caught.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUES = {ch: i for i, ch in enumerate(ALPHABET)}
WEIGHTS = [pow(3, i, 31) for i in range(17)]  # 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28


def normalize(code: str) -> str:
    return (code or "").strip().upper().replace(" ", "")


def check_char(first17: str) -> str:
    total = sum(VALUES[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    code = normalize(code)
    if len(code) != 18 or any(ch not in VALUES for ch in code):
        return False
    return check_char(code[:17]) == code[17]


def uscc_problem(code: str) -> str | None:
    """Why `code` is not a valid USCC, as an English msgid (translated by the caller), or None."""
    code = normalize(code)
    if len(code) != 18:
        return "A unified social credit code has 18 characters."
    if any(ch not in VALUES for ch in code):
        return "A unified social credit code uses digits and capital letters except I, O, S, V and Z."
    if check_char(code[:17]) != code[17]:
        return "The check character of this unified social credit code is wrong; please check for a typo."
    return None


def make_uscc(serial: int, prefix: str = "91321000") -> str:
    """A valid code for tests and demo data: Yangzhou division 321000, enterprise (9 1)."""
    body = prefix + _base31(serial).rjust(9, "0")
    return body + check_char(body)


def _base31(n: int) -> str:
    digits = ""
    while True:
        n, r = divmod(n, 31)
        digits = ALPHABET[r] + digits
        if n == 0:
            return digits
