"""Tender key set-up at publication and custodian share handling (to be completed)."""

from __future__ import annotations

from procurement.models import Tender


def setup_keys(tender: Tender) -> None:
    """Give a tender being published its sealed-bid keys (inside the caller's unit of work)."""
