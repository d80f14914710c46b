"""The /api/v1 plumbing every area shares: the flask-smorest Blueprint the areas use and
the request's JSON body, parsed once.

A JSON body is read by two readers on an idempotent POST: `core.idempotency` (for the
request hash) and webargs (for the view's arguments). `request_json()` parses it once
per request and both use the result; a body that is not valid JSON raises the same
error to each, so webargs answers it as before (400 with its message).
"""

from __future__ import annotations

import json
from typing import Any

import flask
import flask_smorest
import marshmallow
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request

_ENVIRON_KEY = "canal.json_body"


def request_json(req: flask.Request | None = None) -> Any:
    """The request body parsed as JSON (cached on the request); raises
    json.JSONDecodeError or UnicodeDecodeError as `json.loads` would."""
    req = req or flask.request
    cached = req.environ.get(_ENVIRON_KEY)
    if cached is None:
        try:
            cached = (True, webargs_core.parse_json(req.get_data(cache=True)))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            cached = (False, exc)
        req.environ[_ENVIRON_KEY] = cached
    ok, value = cached
    if not ok:
        raise value
    return value


class Parser(FlaskParser):
    """webargs' Flask parser reading the JSON body through `request_json`, with one
    instance per argument schema class (webargs would build one per request: marshmallow
    deep-copies the declared fields for each, 0.3 ms for a search's two schemas; a
    schema instance holds no per-load state)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._schemas: dict[type, marshmallow.Schema] = {}

    def _get_schema(self, argmap: Any, req: flask.Request) -> marshmallow.Schema:
        if isinstance(argmap, type) and issubclass(argmap, marshmallow.Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas.setdefault(argmap, argmap())
            return schema
        return super()._get_schema(argmap, req)

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return webargs_core.missing
        return request_json(req)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with the shared JSON body (every API area uses it) and
    the parser above for arguments and pagination parameters."""

    ARGUMENTS_PARSER = Parser()
    PAGINATION_ARGUMENTS_PARSER = Parser()
