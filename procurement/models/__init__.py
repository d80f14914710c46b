"""procurement models, one module per service (re-exported here)."""

from procurement.models.alerts import AlertSubscription
from procurement.models.bids import Bid, BidPart
from procurement.models.bonds import Bond
from procurement.models.clarifications import Question
from procurement.models.tenders import (
    Criterion,
    DocumentDownload,
    Lot,
    ProcedureType,
    Tender,
    TenderAmendment,
    TenderCustodian,
    TenderDocument,
    TenderInvitee,
)

__all__ = [
    "AlertSubscription",
    "Bid",
    "BidPart",
    "Bond",
    "Criterion",
    "DocumentDownload",
    "Lot",
    "ProcedureType",
    "Question",
    "Tender",
    "TenderAmendment",
    "TenderCustodian",
    "TenderDocument",
    "TenderInvitee",
]
