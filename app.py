"""Application factory: extensions, blueprints of every area, error handlers, CLI."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

import accounts
import core
import logistics
import payments
import procurement
import sme
from config import DEV_SECRET_KEY, Config
from core import cli as core_cli
from core import i18n, security
from core.db import db
from core.errors import register_error_handlers
from core.extensions import api, babel, bootstrap, csrf, limiter, login_manager, mail, migrate
from core.money import format_money
from core.tasks import bind_app

AREAS = (core, accounts, payments, logistics, procurement, sme)


def create_app(config: type | dict[str, Any] | None = None, **overrides: Any) -> Flask:
    """Build the app from Config, then `config` (a class or a dict), then `overrides`."""
    app = Flask(__name__, instance_path=str(Config.INSTANCE_DIR), instance_relative_config=False)
    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    app.config.update(overrides)
    if app.config.get("PRODUCTION") and app.config["SECRET_KEY"] == DEV_SECRET_KEY and not app.testing:
        raise RuntimeError("SECRET_KEY must be set in the environment in production")
    Path(app.config["INSTANCE_DIR"]).mkdir(parents=True, exist_ok=True)
    Path(app.config["FILES_DIR"]).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    limiter.init_app(app)
    mail.init_app(app)
    bootstrap.init_app(app)
    login_manager.init_app(app)
    api.init_app(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "Per-user API token"}
    )
    security.init_security(app)
    register_error_handlers(app)

    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["localdt"] = i18n.local_datetime
    app.jinja_env.globals["localized"] = i18n.localized
    app.jinja_env.globals["current_language"] = i18n.current_language
    app.context_processor(i18n.template_translations)

    for area in AREAS:
        area.init_app(app)
    core_cli.init_app(app)
    bind_app(app)
    return app
