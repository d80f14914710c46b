"""Configuration read from environment variables (production) with safe development defaults."""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("CANAL_INSTANCE", BASE_DIR / "instance"))


DEV_SECRET_KEY = "dev-only-not-secret-change-me"  # noqa: S105 - refused in production by create_app


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Defaults for the embedded development set-up; every secret can come from the environment."""

    ENV_NAME = os.environ.get("CANAL_ENV", "development")
    PRODUCTION = ENV_NAME == "production"
    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
    # Earlier secret keys, newest first, separated by spaces: sessions signed and values
    # sealed at rest (core.at_rest) under them still open after a rotation.
    SECRET_KEY_FALLBACKS = os.environ.get("SECRET_KEY_FALLBACKS", "").split()
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'canal.db'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    SQLALCHEMY_SESSION_OPTIONS = {"expire_on_commit": False}
    INSTANCE_DIR = INSTANCE_DIR
    FILES_DIR = Path(os.environ.get("FILES_DIR", INSTANCE_DIR / "files"))
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 20 * 1024 * 1024))
    MAX_FORM_MEMORY_SIZE = 2 * 1024 * 1024
    MAX_UPLOAD_BYTES = int(os.environ.get("MAX_UPLOAD_BYTES", 20 * 1024 * 1024))  # per file (core.files)
    # Search indexes (core.search): derived from the database, rebuilt by `flask search rebuild`.
    SEARCH_DIR = Path(os.environ.get("SEARCH_DIR", INSTANCE_DIR / "search"))

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
    TWO_FACTOR_PENDING_SECONDS = 300  # password accepted, waiting for the TOTP step

    # Password hashing: argon2id (argon2-cffi defaults, above ASVS 5.0 minimums)
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536  # KiB
    ARGON2_PARALLELISM = 4

    # Rate limits of authentication endpoints (per client IP)
    LOGIN_RATE_LIMIT = "10 per minute; 100 per hour"
    RESET_RATE_LIMIT = "5 per minute; 30 per hour"
    TOKEN_RATE_LIMIT = "10 per minute; 50 per hour"  # noqa: S105 - a rate, not a secret

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
    OUTBOX_BACKOFF_MAX = 3600  # seconds: the longest wait between two tries
    OUTBOX_LEASE_SECONDS = 300  # a claimed message is not retried before this (handler running)

    # Mail: Flask-Mail when MAIL_SERVER is set, otherwise a log backend.
    MAIL_SERVER = os.environ.get("MAIL_SERVER")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", 25))
    MAIL_USE_TLS = _bool("MAIL_USE_TLS")
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Canal <noreply@canal.yangzhou.example>")
    MAIL_LOG_FILE = os.environ.get("MAIL_LOG_FILE")  # log backend; default instance/mail.log
    BASE_URL = os.environ.get("BASE_URL", "http://localhost:5000")  # absolute links in emails sent by tasks

    # Platform signing key (Ed25519, PEM) for audit checkpoints and receipts.
    PLATFORM_SIGNING_KEY_FILE = os.environ.get(
        "PLATFORM_SIGNING_KEY_FILE", str(INSTANCE_DIR / "platform_ed25519.pem")
    )

    # Sealed bids: the offline recovery key's PUBLIC half (X25519), as PEM text or a file
    # path. Unset outside production: a development pair is generated once into
    # PROCUREMENT_RECOVERY_KEY_DIR (recovery_private.pem + recovery_public.pem). Unset in
    # production: publishing is refused (procurement.services.keys).
    PROCUREMENT_RECOVERY_PUBLIC_KEY = os.environ.get("PROCUREMENT_RECOVERY_PUBLIC_KEY")
    PROCUREMENT_RECOVERY_KEY_DIR = os.environ.get("PROCUREMENT_RECOVERY_KEY_DIR", str(INSTANCE_DIR))

    # Audit log: a signed checkpoint when the head moved and the last one is older than this.
    AUDIT_CHECKPOINT_MINUTES = int(os.environ.get("AUDIT_CHECKPOINT_MINUTES", 10))
    # Idempotency-Key records are kept this long (at least 24 h).
    IDEMPOTENCY_KEY_TTL_HOURS = int(os.environ.get("IDEMPOTENCY_KEY_TTL_HOURS", 24))

    # API
    API_TITLE = "Canal API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_REDOC_PATH = None
    OPENAPI_SWAGGER_UI_PATH = None

    # Payments by bank transfer: the account payers transfer to (shown with the reference code).
    BANK_RECEIVING_ACCOUNT = {
        "bank_name": os.environ.get("BANK_RECEIVING_BANK", "中国工商银行扬州分行营业部"),
        "account_name": os.environ.get("BANK_RECEIVING_NAME", "扬州运河数字平台运营有限公司"),
        "account_number": os.environ.get("BANK_RECEIVING_NUMBER", "1108 0200 0920 0123 456"),
    }

    # Payments by card (Stripe). Unset STRIPE_SECRET_KEY in development -> scripts/run_local.py
    # starts localstripe and sets STRIPE_API_BASE. Alipay / WeChat Pay only where the Stripe
    # account allows them: STRIPE_PAYMENT_METHOD_TYPES="card,alipay,wechat_pay".
    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "sk_test_canal_local")
    STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "https://api.stripe.com")
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "whsec_canal_local")
    STRIPE_PAYMENT_METHOD_TYPES = [
        t.strip() for t in os.environ.get("STRIPE_PAYMENT_METHOD_TYPES", "card").split(",") if t.strip()
    ]
    STRIPE_CURRENCY = os.environ.get("STRIPE_CURRENCY", "CNY")
    STRIPE_TIMEOUT = float(os.environ.get("STRIPE_TIMEOUT", 20))  # seconds per API call
    #: The payment page may collect a TEST card number server-side (localstripe has no
    #: Stripe.js). Never in production: there Stripe Elements collects the card.
    STRIPE_SERVER_SIDE_TEST_CARDS = not PRODUCTION
    STRIPE_WEBHOOK_RATE_LIMIT = "300 per minute"

    # Security headers
    HSTS = PRODUCTION

    # Demo
    DEMO_MARKER_FILE = str(INSTANCE_DIR / "demo-seeded")


class TestConfig(Config):
    """Isolated configuration for the test suite."""

    PLATFORM_SIGNING_KEY_FILE = str(Path(tempfile.gettempdir()) / f"canal-test-ed25519-{os.getpid()}.pem")
    PROCUREMENT_RECOVERY_PUBLIC_KEY = None
    PROCUREMENT_RECOVERY_KEY_DIR = str(Path(tempfile.gettempdir()) / f"canal-test-recovery-{os.getpid()}")
    SEARCH_DIR = Path(tempfile.gettempdir()) / f"canal-test-search-{os.getpid()}"
    # Tests read English pages unless they ask for Chinese; the zh_Hans_CN default of
    # Config is tested in tests/core/test_i18n.py.
    BABEL_DEFAULT_LOCALE = "en"

    TESTING = True
    SECRET_KEY = "test-secret"  # noqa: S105 - tests only
    SECRET_KEY_FALLBACKS: list[str] = []
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    RATELIMIT_STORAGE_URI = "memory://"
    HUEY_IMMEDIATE = True
    WTF_CSRF_ENABLED = True
    # Cheap argon2id for speed; production values are tested in tests/accounts/test_passwords.py
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 8192
    ARGON2_PARALLELISM = 1
