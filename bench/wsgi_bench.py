"""WSGI entry of the benchmarks: the normal app plus bench-only BARE baseline endpoints.

    gunicorn --chdir bench --pythonpath . 'wsgi_bench:build_app()'    (bench/_harness.py does this)

The extra blueprint exists only here, never in production code:

- `GET  /_bench/ping`     no database (readiness check);
- `POST /_bench/bare`     INSERT the raw request body into `bench_bare` and COMMIT (the
                          table is created by the harness, not by a migration);
- `GET  /_bench/pk/<id>`  one tender by primary key as small JSON.

These are the "physical limit" baselines the benchmarks print their figures beside.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, abort, jsonify, request

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from core.db import db  # noqa: E402
from core.security import SIGNED_WEBHOOK_ENDPOINTS  # noqa: E402

bench_bp = Blueprint("_bench", __name__, url_prefix="/_bench")
_INSERT = sa.text("INSERT INTO bench_bare (body) VALUES (:body) RETURNING id")
_PK = sa.text("SELECT id, status, method, budget, title_zh, title_en FROM tenders WHERE id = :id")


@bench_bp.get("/ping")
def ping():
    return "ok"


@bench_bp.post("/bare")
def bare():
    new_id = db.session.execute(_INSERT, {"body": request.get_data()}).scalar_one()
    db.session.commit()
    return jsonify({"id": new_id}), 201


@bench_bp.get("/pk/<int:tender_id>")
def pk(tender_id: int):
    row = db.session.execute(_PK, {"id": tender_id}).mappings().first()
    if row is None:
        abort(404)
    return jsonify(dict(row))


def build_app(**extra):
    """The app as gunicorn serves it (`wsgi_bench:build_app()`); `extra` config overrides
    (the harness passes the database URL and pool size for its in-process copy)."""
    overrides = {"RATELIMIT_ENABLED": False}
    for key in ("FILES_DIR", "SEARCH_DIR"):
        if os.environ.get(key):
            overrides[key] = Path(os.environ[key])
    for key in ("HUEY_SQLITE_PATH", "PLATFORM_SIGNING_KEY_FILE", "MAIL_LOG_FILE", "PROCUREMENT_RECOVERY_KEY_DIR"):
        if os.environ.get(key):
            overrides[key] = os.environ[key]
    if os.environ.get("CANAL_INSTANCE"):
        overrides["INSTANCE_DIR"] = os.environ["CANAL_INSTANCE"]
    overrides.update(extra)
    application = create_app(**overrides)
    application.register_blueprint(bench_bp)
    # The bare insert is not a session-cookie request: no CSRF token (like a signed webhook).
    SIGNED_WEBHOOK_ENDPOINTS.add("_bench.bare")
    return application


if __name__ == "__main__":  # `make bench` runs bench/*.py: this file is an entry point, not a benchmark
    print("wsgi_bench.py is the WSGI entry the benchmarks serve with gunicorn; nothing to measure here.")
