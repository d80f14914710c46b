"""payments.forms.parse_yuan: amounts typed in yuan, to integer fen (never through a float)."""

from __future__ import annotations

import pytest

from payments.forms import parse_yuan


@pytest.mark.parametrize(("typed", "fen"), [
    ("1200.50", 120050), ("1,234.5", 123450), ("¥ 99", 9900), ("￥0.01", 1), ("0", 0), ("-5", -500),
    ("", None), ("   ", None), (None, None),
])
def test_an_amount_in_yuan_is_read_as_fen(typed, fen):
    assert parse_yuan(typed) == fen


@pytest.mark.parametrize("typed", ["abc", "12.345", "¥", " ￥ ", ",", "1e3x", "NaN", "Infinity"])
def test_anything_else_is_refused(typed):
    with pytest.raises(ValueError):
        parse_yuan(typed)
