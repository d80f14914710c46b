"""Read-side queries of procurement: public tender search and lists (to be completed)."""

from __future__ import annotations

from procurement.models import Tender


def refresh_search_tokens(tender: Tender) -> None:
    """Recompute `tender.search_tokens` (inside the caller's unit of work)."""
