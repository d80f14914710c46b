"""core.api: the shared webargs parser (one schema instance per class, the JSON body read
once) for arguments and for flask-smorest's pagination parameters."""

from __future__ import annotations

import json

import marshmallow as ma
import pytest
from flask import Flask
from flask_smorest import Api

from config import TestConfig
from core import api
from core.errors import register_error_handlers
from core.extensions import babel

ITEMS = [f"item-{n}" for n in range(1, 8)]


class Query(ma.Schema):
    prefix = ma.fields.String(load_default="item-")


class Created(ma.Schema):
    name = ma.fields.String(required=True)


blp = api.Blueprint("api_test", __name__, url_prefix="/t")


@blp.route("/items")
@blp.arguments(Query, location="query")
@blp.response(200)
@blp.paginate(page_size=3, max_page_size=5)
def list_items(args, pagination_parameters):
    chosen = [i for i in ITEMS if i.startswith(args["prefix"])]
    pagination_parameters.item_count = len(chosen)
    start = pagination_parameters.first_item
    return chosen[start:start + pagination_parameters.page_size]


@blp.route("/items", methods=["POST"])
@blp.arguments(Created)
@blp.response(201)
def create_item(data):
    return data


@pytest.fixture(scope="module")
def api_client():
    test_app = Flask(__name__)
    test_app.config.from_object(TestConfig)
    test_app.config.update(OPENAPI_URL_PREFIX=None)
    babel.init_app(test_app)
    register_error_handlers(test_app)
    Api(test_app).register_blueprint(blp)
    return test_app.test_client()


def test_a_schema_is_built_once_and_requests_still_load_apart(api_client, monkeypatch):
    built: list[type] = []
    for schema in (Query, Created):
        real_init = schema.__init__

        def counting(self, *args, _real=real_init, **kwargs):
            built.append(type(self))
            _real(self, *args, **kwargs)

        monkeypatch.setattr(schema, "__init__", counting)
    for parser in (blp.ARGUMENTS_PARSER, blp.PAGINATION_ARGUMENTS_PARSER):
        assert isinstance(parser, api.Parser)
        monkeypatch.setattr(parser, "_schemas", {})
    assert api_client.get("/t/items?prefix=item-1").get_json() == ["item-1"]
    assert api_client.get("/t/items").get_json() == ["item-1", "item-2", "item-3"]
    assert api_client.post("/t/items", json={"name": "a"}).get_json() == {"name": "a"}
    assert api_client.post("/t/items", json={"name": "b"}).get_json() == {"name": "b"}
    assert sorted(t.__name__ for t in built) == ["Created", "Query"]


def test_pagination_parameters_are_read_per_request_and_validated(api_client):
    first = api_client.get("/t/items?page=2")
    assert first.get_json() == ["item-4", "item-5", "item-6"]
    header = json.loads(first.headers["X-Pagination"])
    assert header["total"] == 7 and header["page"] == 2 and header["total_pages"] == 3
    assert api_client.get("/t/items?page=3&page_size=2").get_json() == ["item-5", "item-6"]
    assert api_client.get("/t/items").get_json() == ["item-1", "item-2", "item-3"]  # nothing kept from before
    for bad in ("page=0", "page_size=6", "page=x"):
        response = api_client.get(f"/t/items?{bad}")
        assert response.status_code == 422, bad


def test_a_body_that_is_not_json_is_refused(api_client):
    response = api_client.post("/t/items", data="{not json", content_type="application/json")
    assert response.status_code == 400
