"""Tender key set-up at publication and custodian share handling.

At publication (`setup_keys`, called by `tenders.publish` inside its unit of work) the
tender gets an X25519 key pair whose private key is wrapped under a random KEK; the KEK
is split k of n + 1 (procurement.sealing). Stored on the tender: the public key, the
wrapped private key, the fingerprint, the recovery share sealed to the offline recovery
key and its commitment. Stored per custodian: the share's index, its public commitment
and the share itself *encrypted at rest* (`pending_share`) until the custodian collects
it once, after a fresh TOTP code; it is erased at collection. The KEK and the private
key are never stored nor logged.

Shares at rest (pending until collection, presented until the opening) are sealed by
core.at_rest under a label naming the purpose, the tender and the custodian, so a blob
copied to another custodian, tender or purpose does not decrypt.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from accounts.models import User
from accounts.services import twofactor
from accounts.services.organizations import has_active_role
from accounts.states import Role
from core import at_rest, audit, clock
from core.db import db, for_update, unit_of_work
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from core.notifications import Recipient, notify, register_kind
from core.private_files import create_private_file
from procurement import sealing
from procurement.models import Tender, TenderCustodian
from procurement.states import TenderStatus

__all__ = [
    "NOTIFY_KIND",
    "PENDING",
    "PRESENTED",
    "CollectedShare",
    "setup_keys",
    "check_custodians",
    "recovery_public_key_pem",
    "dev_recovery_private_key_path",
    "seal_share_at_rest",
    "open_share_at_rest",
    "commitments_of",
    "fingerprint",
    "custodian_for",
    "share_status",
    "collect_share",
    "confirm_safekeeping",
    "require_fresh_code",
    "custodian_tenders",
    "is_custodian",
]

NOTIFY_KIND = "tender_keys"
register_kind(NOTIFY_KIND, _l("Tender key custody"), mandatory=True)

PENDING = "pending"  # a share waiting for its custodian to collect it
PRESENTED = "presented"  # a share presented at the opening, waiting for k
_AT_REST_INFO = b"canal-share-at-rest-v1"

RECOVERY_PRIVATE_FILE = "recovery_private.pem"
RECOVERY_PUBLIC_FILE = "recovery_public.pem"


def _invalid(code: str, field_name: str, message: str) -> ValidationError:
    return ValidationError(message, code=code, fields={field_name: message})


# --------------------------------------------------------------------------- recovery key


def _recovery_dir() -> Path:
    return Path(current_app.config.get("PROCUREMENT_RECOVERY_KEY_DIR") or current_app.config["INSTANCE_DIR"])


def dev_recovery_private_key_path() -> Path:
    """Where the development/test recovery PRIVATE key lives (never used in production)."""
    return _recovery_dir() / RECOVERY_PRIVATE_FILE


def _ensure_dev_pair() -> bytes:
    """The development recovery pair in the recovery folder, made once: of processes
    racing here the first private key written wins (create_private_file never replaces
    one and writes it whole), and the public key is derived from it."""
    folder = _recovery_dir()
    public_path = folder / RECOVERY_PUBLIC_FILE
    private_path = folder / RECOVERY_PRIVATE_FILE
    if public_path.exists() and private_path.exists():
        return public_path.read_bytes()
    with contextlib.suppress(FileExistsError):
        create_private_file(private_path, sealing.generate_recovery_keypair()[0])
        current_app.logger.warning(
            "Generated a development recovery key pair in %s (set PROCUREMENT_RECOVERY_PUBLIC_KEY in production).",
            folder)
    public_pem = sealing.recovery_public_pem_of(private_path.read_bytes())
    with contextlib.suppress(FileExistsError):
        create_private_file(public_path, public_pem)
    return public_pem


def recovery_public_key_pem() -> bytes:
    """The offline recovery public key (PEM) from PROCUREMENT_RECOVERY_PUBLIC_KEY (PEM text
    or a file path). Unset: a development pair in the instance dir, or a refusal in
    production (code recovery_key_missing)."""
    configured = (current_app.config.get("PROCUREMENT_RECOVERY_PUBLIC_KEY") or "").strip()
    if configured:
        if "-----BEGIN" in configured:
            return configured.encode("ascii")
        path = Path(configured)
        if not path.is_file():
            raise _invalid("recovery_key_missing", "recovery_key",
                           _("The recovery public key file configured for sealed bids cannot be read."))
        return path.read_bytes()
    if current_app.config.get("PRODUCTION"):
        raise _invalid("recovery_key_missing", "recovery_key",
                       _("Sealed bids need the offline recovery public key: set PROCUREMENT_RECOVERY_PUBLIC_KEY "
                         "before publishing tenders."))
    return _ensure_dev_pair()


# --------------------------------------------------------------------------- shares at rest


def _share_label(purpose: str, tender_id: int, custodian_id: int) -> bytes:
    return b"%s|%s|tender=%d|custodian=%d" % (_AT_REST_INFO, purpose.encode("ascii"), tender_id, custodian_id)


def seal_share_at_rest(share: sealing.KeyShare, purpose: str, tender_id: int, custodian_id: int) -> bytes:
    """The share (index byte || value) sealed at rest under the purpose/tender/custodian label."""
    return at_rest.seal(_share_label(purpose, tender_id, custodian_id), bytes([share.index]) + share.value)


def open_share_at_rest(blob: bytes, purpose: str, tender_id: int, custodian_id: int) -> sealing.KeyShare:
    try:
        payload = at_rest.open_sealed(_share_label(purpose, tender_id, custodian_id), blob)
    except at_rest.Unreadable as exc:
        raise Conflict(_("A stored key share cannot be decrypted (the platform secret changed or the data was "
                         "altered)."), code="share_at_rest_unreadable") from exc
    return sealing.KeyShare(index=payload[0], value=payload[1:])


# --------------------------------------------------------------------------- set-up


def _custodian_users(tender: Tender) -> list[tuple[TenderCustodian, User | None]]:
    return [(c, db.session.get(User, c.user_id)) for c in tender.custodians]


def check_custodians(tender: Tender) -> None:
    """Refuse (coded ValidationError, field `custodians`) unless the tender has 2 to
    MAX_CUSTODIANS custodians, a threshold of at least 2, and every custodian is an active
    user holding the key_custodian role in the buyer organization with 2FA enabled."""
    n = len(tender.custodians)
    k = tender.custodian_threshold or 0
    if k < 2:
        raise _invalid("threshold_too_low", "custodian_threshold",
                       _("At least 2 custodians must be needed to open the bids: one person must never open alone."))
    if n < k:
        raise _invalid("too_few_custodians", "custodians",
                       _("At least %(k)s key custodians are needed for the opening.", k=k))
    if n > sealing.MAX_CUSTODIANS:
        raise _invalid("too_many_custodians", "custodians",
                       _("At most %(n)s key custodians are supported.", n=sealing.MAX_CUSTODIANS))
    for _custodian, user in _custodian_users(tender):
        if user is None or not user.active:
            raise _invalid("custodian_inactive", "custodians", _("A key custodian's account is not active."))
        if not has_active_role(user, tender.buyer_org_id, Role.KEY_CUSTODIAN):
            raise _invalid("custodian_not_key_custodian", "custodians",
                           _("%(name)s is not a key custodian of the buyer organization.", name=user.display_name))
        if not user.two_factor_enabled:
            raise _invalid("custodian_without_2fa", "custodians",
                           _("%(name)s must turn on two-factor authentication before being a key custodian.",
                             name=user.display_name))


def fingerprint(tender: Tender) -> str:
    """The tender public key's fingerprint as shown ('ab12 cd34 ...'), '' before publication."""
    return sealing.key_fingerprint(tender.public_key) if tender.public_key else ""


def commitments_of(tender: Tender) -> list[str]:
    """The public commitments in share order: custodians' shares 1..n, then the recovery share."""
    ordered = sorted((c for c in tender.custodians if c.share_index), key=lambda c: c.share_index)
    return [c.share_commitment for c in ordered] + [tender.recovery_commitment]


def setup_keys(tender: Tender) -> None:
    """Give a tender being published its sealed-bid keys (inside the caller's unit of work).

    Raises a coded ValidationError when the custodians are not acceptable
    (`check_custodians`) or the recovery key is missing in production. Each custodian is
    notified that a share awaits collection.
    """
    check_custodians(tender)
    recovery_pem = recovery_public_key_pem()
    custodians = sorted(tender.custodians, key=lambda c: c.id)
    k, n = int(tender.custodian_threshold), len(custodians)
    try:
        keys = sealing.setup_tender_keys(k, n, recovery_pem)
    except sealing.InvalidParameters as exc:
        raise _invalid("key_setup_refused", "custodians", _("The tender keys cannot be set up: %(detail)s",
                                                           detail=exc.message)) from exc
    with unit_of_work():
        tender.public_key = keys.public_key_raw
        tender.wrapped_private_key = keys.wrapped_private_key
        tender.key_fingerprint = keys.fingerprint.replace(" ", "")  # 64 hex (the column's size); see fingerprint()
        tender.recovery_share = keys.encrypted_recovery_share
        tender.recovery_commitment = keys.share_commitments[keys.recovery_index - 1]
        tender.recovery_key_id = keys.recovery_key_fingerprint.replace(" ", "")  # 64 hex
        tender.custodian_count = n
        for custodian, share in zip(custodians, keys.custodian_shares, strict=True):
            custodian.share_index = share.index
            custodian.share_commitment = keys.share_commitments[share.index - 1]
            custodian.pending_share = seal_share_at_rest(share, PENDING, tender.id, custodian.id)
            custodian.collected_at = None
            custodian.safekeeping_confirmed_at = None
            custodian.presented_share = None
            custodian.presented_at = None
        db.session.flush()
        audit.record(
            "tender.keys_set_up", "tender", tender.id,
            {"threshold": k, "custodian_count": n, "key_fingerprint": keys.fingerprint,
             "offline_key_id": keys.recovery_key_fingerprint},
            actor=audit.system("publish"),
        )
        users = [u for _c, u in _custodian_users(tender) if u is not None]
        title = tender.title_zh or tender.title_en
        notify(
            [Recipient.of(u) for u in users], NOTIFY_KIND,
            _l("A key share awaits you: %(title)s", title=title),
            body=_l("You are a key custodian of tender %(title)s. Collect your key share once, after two-factor "
                    "authentication, and keep it safe until the opening.", title=title),
            link="/procurement/keys",
        )


# --------------------------------------------------------------------------- custodians


@dataclass(frozen=True)
class CollectedShare:
    """What a custodian receives once: the code to copy and the share file's content."""

    tender_id: int
    index: int
    code: str = field(repr=False)
    file_json: str = field(repr=False)

    @property
    def filename(self) -> str:
        return f"canal-tender-{self.tender_id}-share-{self.index}.json"


def custodian_for(tender: Tender, user: User | None, *, lock: bool = False) -> TenderCustodian:
    """The custodian row of `user` on `tender`; NotFound for anyone else (the custodian
    list of a tender is not a secret, but other users have nothing to do here)."""
    if user is None:
        raise PermissionDenied()
    stmt = sa.select(TenderCustodian).where(
        TenderCustodian.tender_id == tender.id, TenderCustodian.user_id == user.id
    )
    if lock:
        stmt = for_update(stmt).execution_options(populate_existing=True)
    row = db.session.scalar(stmt)
    if row is None:
        raise NotFound()
    return row


def share_status(custodian: TenderCustodian) -> str:
    """to_collect | collected | confirmed | presented | erased (after the opening)."""
    if custodian.presented_at is not None:
        return "presented"
    if custodian.pending_share is not None:
        return "to_collect"
    if custodian.safekeeping_confirmed_at is not None:
        return "confirmed"
    if custodian.collected_at is not None:
        return "collected"
    return "erased"


def require_fresh_code(user: User, code: str | None) -> None:
    """A fresh TOTP code of `user` (2FA must be on); ValidationError on field `code`."""
    if not user.two_factor_enabled:
        raise PermissionDenied(_("Turn on two-factor authentication first."))
    if not code or not twofactor.check_code(user, code):
        raise _invalid("totp_invalid", "code", _("The authentication code is not valid. Enter the current code "
                                                  "from your authenticator app."))


def _actor(user: User, tender: Tender) -> audit.Actor:
    return audit.user_actor(user.id, user.current_org_id or tender.buyer_org_id, user.email)


def collect_share(tender: Tender, user: User, totp_code: str) -> CollectedShare:
    """Hand the custodian their share once (after a fresh TOTP code) and erase it.

    A second attempt is refused (Conflict, code share_already_collected).
    """
    custodian_for(tender, user)
    require_fresh_code(user, totp_code)
    with unit_of_work():
        custodian = custodian_for(tender, user, lock=True)
        if custodian.pending_share is None:
            raise Conflict(_("You have already collected your key share for this tender; it is given out only once."),
                           code="share_already_collected")
        if TenderStatus(tender.status) in (TenderStatus.CANCELLED, TenderStatus.DRAFT):
            raise Conflict(_("This tender has no key share to collect."), code="no_share")
        share = open_share_at_rest(custodian.pending_share, PENDING, tender.id, custodian.id)
        share = sealing.KeyShare(index=share.index, value=share.value, key_fingerprint=fingerprint(tender))
        custodian.pending_share = None
        custodian.collected_at = clock.now()
        audit.record("tender.share_collected", "tender", tender.id,
                     {"custodian_id": custodian.id, "index": custodian.share_index}, actor=_actor(user, tender))
    file_json = sealing.share_file_json(share, threshold=tender.custodian_threshold,
                                        custodians=tender.custodian_count, key_fingerprint=fingerprint(tender))
    return CollectedShare(tender_id=tender.id, index=share.index, code=share.code, file_json=file_json)


def confirm_safekeeping(tender: Tender, user: User) -> TenderCustodian:
    """The custodian confirms they have stored their share safely."""
    with unit_of_work():
        custodian = custodian_for(tender, user, lock=True)
        if custodian.collected_at is None:
            raise Conflict(_("Collect your key share before confirming its safekeeping."), code="share_not_collected")
        if custodian.safekeeping_confirmed_at is None:
            custodian.safekeeping_confirmed_at = clock.now()
            audit.record("tender.share_safekeeping_confirmed", "tender", tender.id,
                         {"custodian_id": custodian.id}, actor=_actor(user, tender))
    return custodian


# --------------------------------------------------------------------------- read side


def custodian_tenders(user: User) -> list[tuple[TenderCustodian, Tender]]:
    """The published tenders where `user` is a key custodian, next opening first."""
    rows = db.session.execute(
        sa.select(TenderCustodian, Tender)
        .join(Tender, Tender.id == TenderCustodian.tender_id)
        .where(TenderCustodian.user_id == user.id, Tender.status != TenderStatus.DRAFT.value)
        .order_by(Tender.opened_at.is_not(None), Tender.opening_time, Tender.id)
    ).all()
    return [(c, t) for c, t in rows]


def is_custodian(tender: Tender, user: User | None) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return db.session.scalar(
        sa.select(TenderCustodian.id).where(TenderCustodian.tender_id == tender.id, TenderCustodian.user_id == user.id)
    ) is not None
