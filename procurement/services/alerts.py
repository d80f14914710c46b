"""Supplier alerts by category and keyword (to be completed)."""

from __future__ import annotations


def notify_new_tender(tender_id: int) -> None:
    """Notify the subscribers whose subscription matches a newly published tender."""
