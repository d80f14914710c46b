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
    """webargs' Flask parser reading the JSON body through `request_json`."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return webargs_core.missing
        return request_json(req)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with the shared JSON body (every API area uses it)."""

    ARGUMENTS_PARSER = Parser()
