"""POST /payments/webhooks/stripe: verified, applied once, forward only (and end to end from localstripe)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from core.db import db
from payments.models import JournalEntry, Payment, ProviderEvent
from payments.providers import stripe as stripe_provider
from payments.providers.base import ProviderResult
from payments.services import payments as svc
from payments.states import PaymentStatus
from tests.payments.conftest import sign_webhook
from tests.payments.test_stripe_payments import GOOD_CARD

URL = "/payments/webhooks/stripe"


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _paid_at_stripe_only(payer_org, capture_method="automatic") -> Payment:
    """A payment whose PaymentIntent succeeded at localstripe, but we were not told yet."""
    payment = svc.start(svc.create_payment(
        purpose="Bond", subject_type="procurement.bond", subject_id="3", payer_org_id=payer_org.id,
        amount=5_000, provider="stripe", return_url="/tenders/3", capture_method=capture_method))
    client = stripe_provider.get_client()
    pm = client.v1.payment_methods.create(params={"type": "card", "card": GOOD_CARD})
    client.v1.payment_intents.update(payment.provider_ref, params={"payment_method": pm.to_dict()["id"]})
    client.v1.payment_intents.confirm(payment.provider_ref)
    return payment


def _event(payment: Payment, event_id: str = "evt_1", type_: str = "payment_intent.succeeded", status="succeeded"):
    return {"id": event_id, "object": "event", "type": type_, "created": int(time.time()),
            "data": {"object": {"id": payment.provider_ref, "object": "payment_intent", "status": status,
                                "metadata": {"canal_payment_id": str(payment.id)}}}}


def _post(client, payload, **kw):
    body, headers = sign_webhook(payload, **kw)
    return client.post(URL, data=body, headers=headers)


def _reload(payment: Payment) -> Payment:
    db.session.expire_all()
    return db.session.get(Payment, payment.id)


def test_verified_event_moves_payment_forward_from_refetched_state(client, localstripe, payer_org):
    payment = _paid_at_stripe_only(payer_org)
    # the event body claims "processing"; the re-fetched PaymentIntent says succeeded
    resp = _post(client, _event(payment, status="processing"))
    assert resp.status_code == 200 and resp.get_json() == {"status": "applied"}
    payment = _reload(payment)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert _count(JournalEntry) == 1
    assert db.session.scalars(select(ProviderEvent)).one().payment_id == payment.id


def test_duplicate_event_answers_200_and_changes_nothing(client, localstripe, payer_org):
    payment = _paid_at_stripe_only(payer_org)
    assert _post(client, _event(payment)).get_json() == {"status": "applied"}
    resp = _post(client, _event(payment))
    assert resp.status_code == 200 and resp.get_json() == {"status": "duplicate"}
    assert _count(JournalEntry) == 1 and _count(ProviderEvent) == 1


def test_processing_after_succeeded_does_not_move_back(client, localstripe, payer_org, monkeypatch):
    payment = _paid_at_stripe_only(payer_org)
    assert _post(client, _event(payment, "evt_ok")).status_code == 200
    # a late `processing` event, and even a stale API answer saying processing
    provider = stripe_provider.StripeProvider
    monkeypatch.setattr(provider, "retrieve", lambda self, p: ProviderResult(status="processing", provider_ref=p.provider_ref))
    resp = _post(client, _event(payment, "evt_late", "payment_intent.processing", "processing"))
    assert resp.status_code == 200
    payment = _reload(payment)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert _count(JournalEntry) == 1 and _count(ProviderEvent) == 2


def test_bad_signature_is_refused_with_400_and_nothing_stored(client, localstripe, payer_org):
    payment = _paid_at_stripe_only(payer_org)
    resp = _post(client, _event(payment), secret="whsec_wrong")
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "bad_signature"
    resp = client.post(URL, data=b"{}", headers={"Content-Type": "application/json"})  # no signature at all
    assert resp.status_code == 400
    assert _reload(payment).status == PaymentStatus.REQUIRES_ACTION
    assert _count(ProviderEvent) == 0 and _count(JournalEntry) == 0


def test_stale_timestamp_is_refused_with_400(client, localstripe, payer_org):
    payment = _paid_at_stripe_only(payer_org)
    resp = _post(client, _event(payment), timestamp=int(time.time()) - 301)
    assert resp.status_code == 400
    assert _count(ProviderEvent) == 0
    assert _post(client, _event(payment), timestamp=int(time.time()) - 200).status_code == 200


def test_events_about_unknown_objects_are_recorded_and_ignored(client, localstripe):
    payload = {"id": "evt_other", "object": "event", "type": "customer.created", "created": int(time.time()),
               "data": {"object": {"id": "cus_1", "object": "customer"}}}
    assert _post(client, payload).get_json() == {"status": "ignored"}
    assert _post(client, payload).get_json() == {"status": "duplicate"}


def test_webhook_needs_no_csrf_token(app, localstripe, payer_org):
    payment = _paid_at_stripe_only(payer_org)
    assert app.config["WTF_CSRF_ENABLED"]
    assert _post(app.test_client(), _event(payment)).status_code == 200


def test_two_concurrent_deliveries_apply_once(app, postgres_only, localstripe, payer_org, monkeypatch):
    payment = _paid_at_stripe_only(payer_org)
    db.session.commit()
    barrier = threading.Barrier(2, timeout=20)
    real_retrieve = stripe_provider.StripeProvider.retrieve

    def retrieve_together(self, p):
        result = real_retrieve(self, p)
        barrier.wait()  # both deliveries passed the duplicate check before either inserts
        return result

    monkeypatch.setattr(stripe_provider.StripeProvider, "retrieve", retrieve_together)
    body, headers = sign_webhook(_event(payment, "evt_race"))
    answers = []

    def deliver():
        resp = app.test_client().post(URL, data=body, headers=headers)
        answers.append((resp.status_code, resp.get_json()["status"]))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(answers) == [(200, "applied"), (200, "duplicate")]
    assert _reload(payment).status == PaymentStatus.SUCCEEDED
    assert _count(JournalEntry) == 1 and _count(ProviderEvent) == 1


def test_webhook_from_localstripe_is_applied_exactly_once(app, localstripe, stripe_live_server, payer_org):
    time.sleep(1.2)  # localstripe sends ~1 s after an event to the hooks registered THEN: drain earlier tests'
    localstripe.register_webhook("canal", stripe_live_server.url + URL, app.config["STRIPE_WEBHOOK_SECRET"])
    try:
        payment = _paid_at_stripe_only(payer_org)  # localstripe sends payment_intent.succeeded ~1 s later
        db.session.commit()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            db.session.rollback()
            if db.session.scalar(select(ProviderEvent.id).where(ProviderEvent.type == "payment_intent.succeeded")):
                break
            time.sleep(0.2)
        time.sleep(0.5)
        db.session.rollback()
        succeeded = db.session.scalars(select(ProviderEvent).where(ProviderEvent.type == "payment_intent.succeeded")).all()
        assert [e.payment_id for e in succeeded] == [payment.id]
        payment = _reload(payment)
        assert payment.status == PaymentStatus.SUCCEEDED and payment.amount_captured == 5_000
        assert _count(JournalEntry) == 1
    finally:
        # stop deliveries to this server (the registration outlives DELETE /_config/data)
        localstripe.register_webhook("canal", "http://127.0.0.1:9/", "whsec_none")
        db.session.rollback()
