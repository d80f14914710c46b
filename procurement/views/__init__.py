"""procurement pages, one module per concern; all on the `procurement` blueprint."""

from procurement.views import (  # noqa: F401
    admin,  # procedure type settings (platform admin)
    bids,  # supplier bid workspace, receipts and their public verification
    bonds,  # supplier bonds and the finance bond queue
    custodians,  # key custodians: share collection and the opening
    enquiries,  # clarifications, amendments, alerts
    officer,  # officer tender management: drafts, publishing, cancellation
    public,  # public tender list, search, detail, document downloads
)
