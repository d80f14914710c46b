"""Who takes part in a tender (downloaders, askers, bond lodgers, bidders), for the
platform's own notices only; never shown to anyone but each supplier itself (to be completed)."""

from __future__ import annotations

from typing import Any

from procurement.models import Tender


def notify_cancelled(tender: Tender, actor: Any = None) -> None:
    """Tell every participant that the tender was cancelled, with the published reason."""
