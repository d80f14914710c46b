"""Tables of payments, one module per concern: the ledger, payments in, payouts."""

from payments.models.ledger import *  # noqa: F401,F403
from payments.models.ledger import __all__ as _ledger_all
from payments.models.payments import *  # noqa: F401,F403
from payments.models.payments import __all__ as _payments_all
from payments.models.payouts import *  # noqa: F401,F403
from payments.models.payouts import __all__ as _payouts_all

__all__ = [*_ledger_all, *_payments_all, *_payouts_all]
