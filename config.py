"""Configuration read from environment variables (production) with safe development defaults."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("CANAL_INSTANCE", BASE_DIR / "instance"))


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Defaults for the embedded development set-up; every secret can come from the environment."""

    ENV_NAME = os.environ.get("CANAL_ENV", "development")
    PRODUCTION = ENV_NAME == "production"
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret-change-me")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'canal.db'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    SQLALCHEMY_SESSION_OPTIONS = {"expire_on_commit": False}
    INSTANCE_DIR = INSTANCE_DIR
    FILES_DIR = Path(os.environ.get("FILES_DIR", INSTANCE_DIR / "files"))
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 20 * 1024 * 1024))
    MAX_FORM_MEMORY_SIZE = 2 * 1024 * 1024

    # Sessions: signed cookie carrying a server-side session id (accounts.sessions).
    SESSION_COOKIE_NAME = "canal_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = PRODUCTION
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SECURE = PRODUCTION
    SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
    SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=12)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)

    # Login protection
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCKOUT = timedelta(minutes=15)
    PASSWORD_RESET_MAX_AGE = 3600  # seconds

    # CSRF (Flask-WTF): checked explicitly in core.security.csrf_rule, not by default.
    WTF_CSRF_CHECK_DEFAULT = False
    WTF_CSRF_TIME_LIMIT = 8 * 3600
    WTF_CSRF_SSL_STRICT = PRODUCTION

    # i18n
    BABEL_DEFAULT_LOCALE = "zh_Hans_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")
    LANGUAGES = {"zh_Hans_CN": "中文", "en": "English"}

    # Bootstrap served from the Bootstrap-Flask package (no CDN).
    BOOTSTRAP_SERVE_LOCAL = True

    # Rate limits (Flask-Limiter); Redis when configured, memory otherwise.
    REDIS_URL = os.environ.get("REDIS_URL")
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", REDIS_URL or "memory://")
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True

    # Background tasks (Huey): SQLite file by default, Redis when REDIS_URL is set.
    HUEY_SQLITE_PATH = os.environ.get("HUEY_SQLITE_PATH", str(INSTANCE_DIR / "huey.db"))
    HUEY_IMMEDIATE = _bool("HUEY_IMMEDIATE", False)
    OUTBOX_MAX_ATTEMPTS = 8
    OUTBOX_BACKOFF_BASE = 30  # seconds, doubled per attempt

    # Mail: Flask-Mail when MAIL_SERVER is set, otherwise a log backend.
    MAIL_SERVER = os.environ.get("MAIL_SERVER")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", 25))
    MAIL_USE_TLS = _bool("MAIL_USE_TLS")
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Canal <noreply@canal.yangzhou.example>")

    # Platform signing key (Ed25519, PEM) for audit checkpoints and receipts.
    PLATFORM_SIGNING_KEY_FILE = os.environ.get(
        "PLATFORM_SIGNING_KEY_FILE", str(INSTANCE_DIR / "platform_ed25519.pem")
    )

    # API
    API_TITLE = "Canal API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_REDOC_PATH = None
    OPENAPI_SWAGGER_UI_PATH = None

    # Security headers
    HSTS = PRODUCTION

    # Demo
    DEMO_MARKER_FILE = str(INSTANCE_DIR / "demo-seeded")


class TestConfig(Config):
    """Isolated configuration for the test suite."""

    TESTING = True
    SECRET_KEY = "test-secret"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    RATELIMIT_STORAGE_URI = "memory://"
    HUEY_IMMEDIATE = True
    WTF_CSRF_ENABLED = True
