from decimal import Decimal

import pytest

from core.money import Money, MoneyError, format_money


def test_parse_keeps_exact_fen():
    assert Money.parse("1,234.50") == Money(123450, "CNY")


def test_parse_refuses_sub_fen_precision():
    with pytest.raises(MoneyError):
        Money.parse("0.001")


def test_money_refuses_float_amounts():
    with pytest.raises(MoneyError):
        Money(1.5)  # type: ignore[arg-type]


def test_adding_different_currencies_is_an_error():
    with pytest.raises(MoneyError):
        Money(1, "CNY") + Money(1, "USD")


def test_percent_rounds_half_up():
    assert Money(105).percent(10) == Money(11)  # 10.5 fen -> 11
    assert Money(104).percent(10) == Money(10)


def test_allocate_never_loses_a_fen():
    parts = Money(100).allocate([1, 1, 1])
    assert [p.amount for p in parts] == [34, 33, 33]
    assert sum(p.amount for p in parts) == 100


def test_format_uses_yuan_symbol_and_grouping():
    assert format_money(123450) == "¥1,234.50"
    assert format_money(Money(-5)) == "-¥0.05"
    assert Money(123450).major == Decimal("1234.50")
