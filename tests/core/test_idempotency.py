"""Idempotency-Key on API POSTs: one effect per key, replayed responses, reuse refused."""

from __future__ import annotations

import threading
from datetime import timedelta

import marshmallow as ma
import pytest
import sqlalchemy as sa
from flask import Flask
from flask_smorest import Api

from config import TestConfig
from core import at_rest, clock
from core.api import Blueprint
from core.db import db, unit_of_work
from core.errors import ValidationError, register_error_handlers
from core.extensions import babel, login_manager
from core.idempotency import body_label, idempotent, purge_expired, stored_count
from core.models.idempotency import IdempotencyRecord
from core.models.settings import AppSetting

CALLS: list[str] = []
FLAKY: dict[str, int] = {}
SLOW_STARTED = threading.Event()
SLOW_RELEASE = threading.Event()


class ItemIn(ma.Schema):
    name = ma.fields.String(required=True)


class ItemOut(ma.Schema):
    key = ma.fields.String()
    n = ma.fields.Integer()


blp = Blueprint("idem_test", __name__, url_prefix="/t")


@blp.route("/items", methods=["POST"])
@idempotent
@blp.arguments(ItemIn)
@blp.response(201, ItemOut)
def create_item(data):
    name = data["name"]
    CALLS.append(name)
    if name == "slow":
        SLOW_STARTED.set()
        SLOW_RELEASE.wait(timeout=20)
    with unit_of_work():
        db.session.add(AppSetting(key=f"item-{len(CALLS)}", value=name))
        if name == "explode":
            raise RuntimeError("the view crashed after writing")
        if name == "reject":
            raise ValidationError(fields={"name": "rejected"})
        if name == "flaky" and FLAKY.setdefault(name, 0) == 0:
            FLAKY[name] = 1
            raise RuntimeError("first attempt fails")
    return {"key": f"item-{len(CALLS)}", "n": len(CALLS)}


def _build_app(database_uri: str) -> Flask:
    """A small app of its own (the session app is past its first request and the shared
    flask-smorest Api must not be re-initialised)."""
    test_app = Flask(__name__)
    test_app.config.from_object(TestConfig)
    test_app.config.update(SQLALCHEMY_DATABASE_URI=database_uri, WTF_CSRF_ENABLED=False,
                           OPENAPI_URL_PREFIX=None)
    db.init_app(test_app)
    login_manager.init_app(test_app)
    babel.init_app(test_app)
    register_error_handlers(test_app)
    api = Api(test_app)
    api.register_blueprint(blp)
    return test_app


@pytest.fixture(scope="module")
def idem_app(app):
    return _build_app(app.config["SQLALCHEMY_DATABASE_URI"])


@pytest.fixture
def api_client(idem_app):
    CALLS.clear()
    FLAKY.clear()
    yield idem_app.test_client()
    with idem_app.app_context():
        db.session.remove()


def _post(client, name: str, key: str | None = "key-1"):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/t/items", json={"name": name}, headers=headers)


def _effects() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(AppSetting)) or 0


def test_same_key_twice_gives_one_effect_and_the_same_response(api_client):
    first = _post(api_client, "widget")
    second = _post(api_client, "widget")
    assert first.status_code == 201
    assert second.status_code == 201
    assert second.get_json() == first.get_json() == {"key": "item-1", "n": 1}
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert CALLS == ["widget"]
    assert _effects() == 1


def test_the_stored_response_is_sealed_at_rest_and_bound_to_its_key(api_client, idem_app):
    first = _post(api_client, "confidential-widget")
    with idem_app.app_context():
        record = db.session.scalars(sa.select(IdempotencyRecord)).one()
        assert b"confidential" not in record.response_body and b"item-1" not in record.response_body
        assert at_rest.open_sealed(body_label(record.caller, "key-1"), record.response_body) == first.get_data()
        with pytest.raises(at_rest.Unreadable):  # another caller's or key's label does not open it
            at_rest.open_sealed(body_label(record.caller, "key-2"), record.response_body)
    replay = _post(api_client, "confidential-widget")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.get_data() == first.get_data()


def test_a_stored_response_that_no_longer_opens_is_a_409_not_a_second_run(api_client, idem_app, monkeypatch):
    _post(api_client, "widget")
    monkeypatch.setitem(idem_app.config, "SECRET_KEY", "a-rotated-secret")  # no fallback kept
    again = _post(api_client, "widget")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "idempotency_record_unreadable"
    assert CALLS == ["widget"]


def test_without_a_key_every_request_runs(api_client):
    _post(api_client, "widget", key=None)
    _post(api_client, "widget", key=None)
    assert CALLS == ["widget", "widget"]
    assert _effects() == 2
    assert stored_count() == 0


def test_same_key_with_a_different_body_is_refused_with_422(api_client):
    assert _post(api_client, "widget").status_code == 201
    reused = _post(api_client, "gadget")
    assert reused.status_code == 422
    assert reused.get_json()["error"]["code"] == "idempotency_key_reused"
    assert CALLS == ["widget"]
    assert _effects() == 1


def test_equivalent_json_bodies_hash_the_same(api_client):
    a = api_client.post("/t/items", data='{"name": "w"}', content_type="application/json",
                        headers={"Idempotency-Key": "k"})
    b = api_client.post("/t/items", data='{ "name":"w" }', content_type="application/json",
                        headers={"Idempotency-Key": "k"})
    assert a.status_code == b.status_code == 201
    assert b.headers.get("Idempotent-Replayed") == "true"


@pytest.mark.parametrize(("one", "other", "same"), [
    ('{"a": 1, "b": {"x": [1, 2], "y": null}}', '{ "b": {"y": null, "x": [1, 2]}, "a": 1 }', True),
    ('{"a": "1"}', '{"a": 1}', False),
    ('{"a": 1}', '{"a": 1.0}', False),
    ('{"a": [1, 2]}', '{"a": [2, 1]}', False),
    ('{"a": true}', '{"a": 1}', False),
    ('{"a": "x", "b": ""}', '{"a": "", "b": "x"}', False),
    ('{"ab": "c"}', '{"a": "bc"}', False),
    ('{"a": ["b", "c"]}', '{"a": ["bc"]}', False),
    ('{"a": "\\u626c\\u5dde"}', '{"a": "扬州"}', True),
])
def test_request_hash_is_canonical_json(idem_app, one, other, same):
    """Whitespace, key order and escapes do not change the hash; any value, type or
    boundary difference does."""
    from core.idempotency import _request_hash

    def hashed(body: str) -> str:
        with idem_app.test_request_context("/t/items", method="POST", data=body.encode(),
                                           content_type="application/json"):
            return _request_hash()

    assert (hashed(one) == hashed(other)) is same


def test_the_body_is_parsed_once_for_the_hash_and_the_arguments(api_client, monkeypatch):
    import json

    parsed: list[str] = []
    real = json.loads

    def counting(text, *args, **kwargs):
        if "widget" in str(text):
            parsed.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting)
    assert _post(api_client, "widget").status_code == 201
    assert len(parsed) == 1  # the request hash and webargs share one parse (core.api.request_json)


def test_a_body_that_is_not_json_is_a_400_and_keeps_nothing(api_client):
    r = api_client.post("/t/items", data=b'{"name": ', content_type="application/json",
                        headers={"Idempotency-Key": "bad-json"})
    assert r.status_code == 400
    assert CALLS == [] and _effects() == 0 and stored_count() == 0


def test_different_keys_are_different_requests(api_client):
    _post(api_client, "widget", key="a")
    _post(api_client, "widget", key="b")
    assert CALLS == ["widget", "widget"]
    assert _effects() == 2


@pytest.mark.parametrize("name, status", [("explode", 500), ("reject", 422)])
def test_a_failing_first_request_keeps_nothing_and_the_retry_runs(api_client, name, status):
    failed = _post(api_client, name, key="retry-me")
    assert failed.status_code == status
    assert _effects() == 0
    assert stored_count() == 0
    retried = _post(api_client, name, key="retry-me")
    assert retried.status_code == status
    assert "Idempotent-Replayed" not in retried.headers
    assert CALLS == [name, name]


def test_a_retry_after_a_crash_succeeds_once(api_client):
    assert _post(api_client, "flaky").status_code == 500
    ok = _post(api_client, "flaky")
    again = _post(api_client, "flaky")
    assert ok.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _effects() == 1
    assert CALLS == ["flaky", "flaky"]


def test_invalid_request_body_is_not_stored(api_client):
    bad = api_client.post("/t/items", json={}, headers={"Idempotency-Key": "k"})
    assert bad.status_code == 422
    assert stored_count() == 0


def test_an_overlong_key_is_refused(api_client):
    response = _post(api_client, "widget", key="x" * 300)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "idempotency_key_invalid"
    assert CALLS == []


def test_records_are_kept_a_day_then_purged(api_client, app):
    _post(api_client, "widget")
    clock.advance(timedelta(hours=23))
    assert purge_expired() == 0
    assert _post(api_client, "widget").headers.get("Idempotent-Replayed") == "true"
    clock.advance(timedelta(hours=2))
    assert purge_expired() == 1
    assert stored_count() == 0
    result = app.test_cli_runner().invoke(args=["idempotency", "purge"])
    assert result.exit_code == 0 and "0 expired" in result.output


def test_an_expired_key_may_be_used_again(api_client):
    _post(api_client, "widget")
    clock.advance(timedelta(hours=25))
    again = _post(api_client, "gadget")
    assert again.status_code == 201
    assert CALLS == ["widget", "gadget"]


def test_a_concurrent_request_with_the_same_key_gets_409(api_client, idem_app, postgres_only):
    SLOW_STARTED.clear()
    SLOW_RELEASE.clear()
    results: dict[str, int] = {}

    def first() -> None:
        results["first"] = _post(idem_app.test_client(), "slow", key="busy").status_code

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert SLOW_STARTED.wait(timeout=10)
        second = _post(idem_app.test_client(), "slow", key="busy")
        assert second.status_code == 409
        assert second.get_json()["error"]["code"] == "idempotency_in_progress"
    finally:
        SLOW_RELEASE.set()
        thread.join(timeout=30)
    assert results["first"] == 201
    replay = _post(idem_app.test_client(), "slow", key="busy")
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert CALLS == ["slow"]
