"""Audit entries that must not say who takes part in a tender before its opening.

The audit log is readable by platform admins and auditors, but before the opening nobody
may learn who downloaded, asked, lodged a bond or bid, nor how many did (DESIGN.md
section 7). Such entries are therefore recorded by a system actor, with no object id,
and their details (tender, organization, user...) sealed to the tender's public key:
after the opening the custodians' rebuilt key (or the recovery path) can read them.
The chain still records that *something* happened and when, so nothing is lost.
"""

from __future__ import annotations

import base64
from typing import Any

from core import audit
from procurement import sealing
from procurement.models import Tender

__all__ = ["AUDIT_AAD", "record", "unseal_details"]

AUDIT_AAD = b"canal-bid-audit-v1\x00"


def record(action: str, object_type: str, tender: Tender, details: dict[str, Any], *,
           source: str = "sealed-bids") -> None:
    """Append an audit entry whose details are sealed to `tender`'s key.

    A tender without keys (a draft) cannot take part in anything sealed, so this is an
    error in the caller.
    """
    if not tender.public_key:
        raise ValueError("a sealed audit entry needs a published tender")
    blob = sealing.seal(tender.public_key, sealing.canonical_json(details), aad=AUDIT_AAD)
    audit.record(action, object_type, None, {"sealed": base64.b64encode(blob.data).decode("ascii")},
                 actor=audit.system(source))


def unseal_details(private_key: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The details of a sealed entry, with the tender's rebuilt private key."""
    import json

    raw = sealing.unseal(private_key, base64.b64decode(data["sealed"]), aad=AUDIT_AAD)
    return json.loads(raw)
