"""Money as integer minor units (fen) plus an ISO 4217 currency. Never float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MINOR_DIGITS = {"CNY": 2, "USD": 2, "EUR": 2, "HKD": 2, "JPY": 0}
SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "HKD": "HK$", "JPY": "¥"}


class MoneyError(ValueError):
    pass


@dataclass(frozen=True, order=False)
class Money:
    amount: int  # minor units
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise MoneyError("Money amount must be an integer number of minor units")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise MoneyError(f"bad currency {self.currency!r}")

    # construction -------------------------------------------------------------
    @classmethod
    def parse(cls, text: str | int | Decimal, currency: str = "CNY") -> Money:
        """Parse a major-unit amount ("1,234.50") exactly; more decimals than the currency has is an error."""
        digits = MINOR_DIGITS.get(currency, 2)
        try:
            value = Decimal(str(text).replace(",", "").replace("¥", "").strip())
        except InvalidOperation as exc:
            raise MoneyError(f"not an amount: {text!r}") from exc
        if not value.is_finite():
            raise MoneyError(f"not an amount: {text!r}")
        scaled = value.scaleb(digits)
        if scaled != scaled.to_integral_value():
            raise MoneyError(f"{text!r} has more than {digits} decimals")
        return cls(int(scaled), currency)

    @classmethod
    def zero(cls, currency: str = "CNY") -> Money:
        return cls(0, currency)

    # arithmetic ---------------------------------------------------------------
    def _check(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError("can only combine Money with Money")
        if other.currency != self.currency:
            raise MoneyError(f"currency mismatch {self.currency} / {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._check(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._check(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._check(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._check(other)
        return self.amount >= other.amount

    def multiply(self, factor: Decimal | int | str, rounding: str = ROUND_HALF_UP) -> Money:
        """Multiply by an exact factor, rounding half up to the minor unit unless told otherwise."""
        result = (Decimal(self.amount) * Decimal(str(factor))).quantize(Decimal(1), rounding=rounding)
        return Money(int(result), self.currency)

    def percent(self, pct: Decimal | int | str, rounding: str = ROUND_HALF_UP) -> Money:
        return self.multiply(Decimal(str(pct)) / 100, rounding)

    def allocate(self, ratios: list[int]) -> list[Money]:
        """Split without losing a fen: remainders go to the first parts."""
        total = sum(ratios)
        if total <= 0 or any(r < 0 for r in ratios):
            raise MoneyError("ratios must be non-negative with a positive sum")
        parts = [self.amount * r // total for r in ratios]
        for i in range(self.amount - sum(parts)):
            parts[i % len(parts)] += 1
        return [Money(p, self.currency) for p in parts]

    # display ------------------------------------------------------------------
    @property
    def major(self) -> Decimal:
        return Decimal(self.amount).scaleb(-MINOR_DIGITS.get(self.currency, 2))

    def format(self) -> str:
        digits = MINOR_DIGITS.get(self.currency, 2)
        sign = "-" if self.amount < 0 else ""
        value = abs(self.major)
        text = f"{value:,.{digits}f}"
        return f"{sign}{SYMBOLS.get(self.currency, self.currency + ' ')}{text}"

    def __str__(self) -> str:
        return self.format()


def format_money(value: Money | int | None, currency: str = "CNY") -> str:
    """Jinja filter `|money`: Money or an int of fen."""
    if value is None:
        return ""
    if isinstance(value, Money):
        return value.format()
    return Money(int(value), currency).format()
