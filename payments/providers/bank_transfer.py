"""The `bank_transfer` provider: the payer transfers money to the platform's bank account.

Nothing leaves the process: `create` gives the payment its unique reference code and
answers `requires_action` (awaiting the transfer; the payment page shows the code and
config BANK_RECEIVING_ACCOUNT). The money is confirmed or rejected by platform finance
in payments.services.bank_transfer, never by a webhook.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from payments.providers.base import ProviderError, ProviderResult, WebhookEvent, register
from payments.states import PaymentStatus, ProviderName


class BankTransferProvider:
    name = ProviderName.BANK_TRANSFER.value

    def create(self, payment) -> ProviderResult:
        from payments.services.bank_transfer import assign_reference_code, receiving_account

        code = assign_reference_code(payment)
        account = receiving_account()
        return ProviderResult(
            status=PaymentStatus.REQUIRES_ACTION.value,
            provider_ref=code,
            next_action={
                "type": "bank_transfer",
                "reference_code": code,
                "bank_name": account.bank_name,
                "account_name": account.account_name,
                "account_number": account.account_number,
            },
        )

    def confirm(self, payment, **params: Any) -> ProviderResult:
        # The payer has nothing to confirm: finance does (services.bank_transfer.confirm_transfer).
        return self.create(payment)

    def retrieve(self, payment) -> ProviderResult:
        return ProviderResult(status=None, provider_ref=payment.reference_code)

    def capture(self, payment, amount: int | None = None) -> ProviderResult:
        raise ProviderError(_("A bank transfer cannot be captured; finance confirms it."), code="not_supported")

    def cancel(self, payment) -> ProviderResult:
        # No money moved yet: cancelling only stops waiting for the transfer.
        return ProviderResult(status=PaymentStatus.CANCELED.value, provider_ref=payment.reference_code)

    def refund(self, payment, amount: int, refund) -> ProviderResult:
        # The money goes back by a payout (bank transfer to the payer's account), recorded by finance.
        raise ProviderError(_("Bank transfers are refunded by a payout."), code="not_supported")

    def handle_webhook(self, raw_body: bytes, headers: Any) -> WebhookEvent:
        raise ProviderError(_("Bank transfers have no webhooks."), code="not_supported")


register(ProviderName.BANK_TRANSFER.value, BankTransferProvider)
