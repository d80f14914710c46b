"""Bid bonds per lot (to be completed)."""

from __future__ import annotations

from typing import Any

from procurement.models import Lot, Tender


def refund_all(tender: Tender, *, reason: str, lot: Lot | None = None, actor: Any = None) -> int:
    """Refund (by payout) or release every bond of `tender` (or of one lot), inside the
    caller's unit of work. Returns the number of bonds handled."""
    return 0
