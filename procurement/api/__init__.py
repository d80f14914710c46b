"""/api/v1 procurement endpoints (flask-smorest), one module per resource.

Each module defines its own `blp` (core.api.Blueprint, a flask_smorest.Blueprint); `init_app` registers
every one under /api/v1 so they appear in the OpenAPI document.
"""

from __future__ import annotations

from importlib import import_module

MODULES = ("tenders", "bids", "questions")


def register(api) -> None:
    for name in MODULES:
        module = import_module(f"procurement.api.{name}")
        blp = getattr(module, "blp", None)
        if blp is not None:
            api.register_blueprint(blp, url_prefix="/api/v1")
