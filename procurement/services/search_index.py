"""Keeping the tender search index (procurement.search.TENDER_INDEX) in step with the database.

A service that changes what a published tender's document holds (publication, every
status change, an amendment's dates) calls `tender_changed` inside its unit of work. The
tenders are collected for the transaction (core.db.collect) and, just before it commits
(core.db's BEFORE_COMMIT, as the audit chain does), written as one outbox message; a
rollback drops them with the change. A buyer organization renamed (accounts'
`organization_renamed` event) sends one message for all its tenders (their documents hold
its names).
After commit its handler rewrites the tender's document from the database row as it then
is, so a message that runs twice, late or out of order leaves the same index; a writer
busy elsewhere makes it fail and the outbox retries it. `flask search rebuild` rewrites
the whole index from the database; so does the minute sweep when it finds the index empty
while tenders are published (a first deployment, a lost or new-version index directory).
The messages are retried until they succeed (outbox `retry_forever`): a document rewrite
has no reason to fail for good (the index unwritable for a while: a long rebuild holding
the writer, a full disk), and a dead one would leave a tender listed as it was, e.g.
still open after its cancellation.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from core import events, outbox
from core.db import BEFORE_COMMIT, collect, db
from core.tasks import register_sweep
from procurement import search
from procurement.models import Tender

log = logging.getLogger(__name__)

KIND = "procurement.search_index"
_PENDING = "procurement.search_index.pending"


def tender_changed(tender_id: int) -> None:
    """Queue the re-indexing of a tender with this transaction (one message for all)."""
    collect(_PENDING, set).add(tender_id)


def _enqueue_pending(session) -> None:
    tender_ids = session.info.pop(_PENDING, None)
    if tender_ids:
        outbox.enqueue(KIND, {"tender_ids": sorted(tender_ids)})


if _enqueue_pending not in BEFORE_COMMIT:
    BEFORE_COMMIT.insert(0, _enqueue_pending)  # before the audit chain, the transaction's last statement


@outbox.handler(KIND, retry_forever=True)
def _reindex(payload: dict[str, Any]) -> None:
    if "buyer_org_id" in payload:
        ids = db.session.scalars(sa.select(Tender.id).where(Tender.buyer_org_id == payload["buyer_org_id"])).all()
        search.reindex_tenders(ids)
        return
    search.reindex_tenders(payload["tender_ids"])


def _on_organization_renamed(sender: str, *, org_id: int, **_: Any) -> None:
    if db.session.scalar(sa.select(Tender.id).where(Tender.buyer_org_id == org_id).limit(1)) is not None:
        outbox.enqueue(KIND, {"buyer_org_id": org_id})


events.organization_renamed.connect(_on_organization_renamed, weak=False)


@register_sweep
def rebuild_if_empty() -> int | None:
    """Rebuild the index when it holds nothing but the database publishes tenders; returns
    the documents written, or None when the index was not empty or nothing is published."""
    if search.TENDER_INDEX.searcher().num_docs:
        return None
    if db.session.execute(search.indexed_rows().limit(1)).first() is None:
        return None
    count = search.TENDER_INDEX.rebuild()
    log.warning("tender search index was empty: rebuilt with %s documents", count)
    return count
