"""Domain events (blinker). Subscribers run synchronously inside the publisher's unit of work.

Lower layers publish; higher layers subscribe in their `__init__` (or `subscribers.py`).
Payloads are plain keyword arguments: ids and subject references, never ORM objects from
another layer's internals.
"""

from __future__ import annotations

from blinker import Namespace

signals = Namespace()

# accounts
organization_verified = signals.signal("organization_verified")
organization_renamed = signals.signal("organization_renamed")
user_registered = signals.signal("user_registered")
# payments
payment_succeeded = signals.signal("payment_succeeded")
payment_failed = signals.signal("payment_failed")
payment_refunded = signals.signal("payment_refunded")
payout_paid = signals.signal("payout_paid")
payout_failed = signals.signal("payout_failed")
# logistics
shipment_delivered = signals.signal("shipment_delivered")


def publish(signal, sender: str, **payload):
    """Send `signal`; must be called inside a unit of work so subscribers share its transaction."""
    from core.db import in_unit_of_work

    if not in_unit_of_work():
        raise RuntimeError(f"event {signal.name} published outside a unit of work")
    return signal.send(sender, **payload)
